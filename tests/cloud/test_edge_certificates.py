"""The edge certificate names its node (CN = the node id): the cloud hub admits it as that node only."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import NameOID

from kubeedge_cloud.pki import issue_edge_certificates, write_certificates


def common_name(path: Path) -> str:
    return str(x509.load_pem_x509_certificate(path.read_bytes()).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value)


def test_certs_issues_the_edge_certificate_with_the_node_id_as_its_common_name(tmp_path: Path) -> None:
    done = write_certificates(tmp_path, "node-a", [])

    assert common_name(tmp_path / "edge.crt") == "node-a"
    assert f"wrote the edge certificate {tmp_path / 'edge.crt'} for node node-a" in done


def test_certs_keeps_the_edge_certificate_of_the_same_node_and_replaces_one_for_another_node(tmp_path: Path) -> None:
    write_certificates(tmp_path, "node-a", [])
    first = (tmp_path / "edge.crt").read_bytes()

    kept = write_certificates(tmp_path, "node-a", [])
    assert (tmp_path / "edge.crt").read_bytes() == first
    replaced = write_certificates(tmp_path, "node-b", [])

    assert f"kept {tmp_path / 'edge.crt'} for node node-a (--force replaces it)" in kept
    assert f"wrote the edge certificate {tmp_path / 'edge.crt'} for node node-b (it was for node node-a)" in replaced
    assert common_name(tmp_path / "edge.crt") == "node-b"


def test_many_edge_certificates_may_share_one_key_each_naming_its_node(tmp_path: Path) -> None:
    write_certificates(tmp_path, "edge-node", [])
    nodes = {f"sim-{n}": (tmp_path / f"sim-{n}.crt", tmp_path / f"sim-{n}.key") for n in range(3)}

    issue_edge_certificates(tmp_path / "ca.crt", tmp_path / "ca.key", nodes, one_key=True)

    assert [common_name(cert) for cert, _ in nodes.values()] == ["sim-0", "sim-1", "sim-2"]
    assert len({key.read_bytes() for _, key in nodes.values()}) == 1
