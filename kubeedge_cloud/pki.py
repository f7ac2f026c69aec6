"""The certificates of ``python -m kubeedge_cloud certs`` (see ``certs.py``): a CA, the cloud
hub's RSA server certificate and edge client certificates (CN = the node id).

Kept apart from the command so that a process that never writes certificates (the edge) does
not load cryptography.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from kubeedge_cloud.errors import CertificateError

_KEY_BITS = 2048
_CA_DAYS = 3650
_CERT_DAYS = 825


def write_certificates(folder: Path, node_id: str, hosts: list[str], *, force: bool = False) -> list[str]:
    """Write what is missing (everything but the CA again with ``force``); returns what was done.

    Raises:
        CertificateError: a file cannot be read or written, or the CA found cannot issue.
    """
    try:
        return _write_certificates(folder, node_id, hosts, force=force)
    except OSError as exc:
        raise CertificateError(f"cannot write the certificates in {folder}: {exc.strerror or exc}: {exc.filename or folder}") from exc


def _write_certificates(folder: Path, node_id: str, hosts: list[str], *, force: bool) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    done: list[str] = []
    ca_cert_path, ca_key_path = folder / "ca.crt", folder / "ca.key"
    if ca_cert_path.exists() and ca_key_path.exists():
        ca_key, ca_cert = _load_ca(ca_cert_path, ca_key_path)
        done.append(f"kept the CA {ca_cert_path}")
    elif ca_cert_path.exists():
        raise CertificateError(f"{ca_cert_path} exists but {ca_key_path} does not: cannot issue certificates from it")
    else:
        ca_key, ca_cert = _new_ca()
        _write(ca_cert_path, ca_cert.public_bytes(serialization.Encoding.PEM), private=False)
        _write(ca_key_path, _key_pem(ca_key), private=True)
        done.append(f"wrote the CA {ca_cert_path}")
    names = ["127.0.0.1", "localhost", *hosts]
    if force or not (folder / "cloudhub.crt").exists():
        key = _new_key()
        cert = _issue(ca_key, ca_cert, key, "cloudhub", names=names, usage=ExtendedKeyUsageOID.SERVER_AUTH)
        _write(folder / "cloudhub.crt", cert.public_bytes(serialization.Encoding.PEM), private=False)
        _write(folder / "cloudhub.key", _key_pem(key), private=True)
        done.append(f"wrote the cloud hub certificate {folder / 'cloudhub.crt'} for {', '.join(names)}")
    else:
        done.append(f"kept {folder / 'cloudhub.crt'} (--force replaces it)")
    edge_cert = folder / "edge.crt"
    old_node = _common_name(edge_cert) if edge_cert.exists() and not force else None
    if force or old_node != node_id:
        # docs/protocol.md#9.4: the CN is the node's identity; a certificate for another node is useless.
        _issue_edge(ca_key, ca_cert, node_id, edge_cert, folder / "edge.key")
        replaced = f" (it was for node {old_node})" if old_node else ""
        done.append(f"wrote the edge certificate {edge_cert} for node {node_id}{replaced}")
    else:
        done.append(f"kept {edge_cert} for node {node_id} (--force replaces it)")
    return done


def issue_edge_certificate(ca_cert: Path, ca_key: Path, node_id: str, cert: Path, key: Path) -> None:
    """A client certificate with CN = ``node_id`` from the CA files, written to ``cert``/``key``.

    Raises:
        CertificateError: the CA is unusable or a file cannot be written.
    """
    issue_edge_certificates(ca_cert, ca_key, {node_id: (cert, key)})


def issue_edge_certificates(ca_cert: Path, ca_key: Path, nodes: dict[str, tuple[Path, Path]], *, one_key: bool = False) -> None:
    """Client certificates for many nodes: ``{node_id: (cert, key)}``. ``one_key``: every
    certificate for the same key pair (simulated edges: an RSA key costs ~0.1 s to make).

    Raises:
        CertificateError: the CA is unusable or a file cannot be written.
    """
    loaded_key, loaded_cert = _load_ca(ca_cert, ca_key)
    shared = _new_key() if one_key else None
    for node_id, (cert, key) in nodes.items():
        try:
            _issue_edge(loaded_key, loaded_cert, node_id, cert, key, key=shared)
        except OSError as exc:
            raise CertificateError(f"cannot issue the certificate of node {node_id}: {exc.strerror or exc}: {exc.filename}") from exc


def _issue_edge(
    ca_key: rsa.RSAPrivateKey,
    ca_cert: x509.Certificate,
    node_id: str,
    cert_path: Path,
    key_path: Path,
    *,
    key: rsa.RSAPrivateKey | None = None,
) -> None:
    key = key or _new_key()
    cert = _issue(ca_key, ca_cert, key, node_id, names=[], usage=ExtendedKeyUsageOID.CLIENT_AUTH)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), private=False)
    _write(key_path, _key_pem(key), private=True)


def _common_name(cert_path: Path) -> str | None:
    """The CN of a PEM certificate file; None when it has none or is not one (then it is replaced)."""
    try:
        names = x509.load_pem_x509_certificate(cert_path.read_bytes()).subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    except ValueError:
        return None
    return str(names[0].value) if names else None


def write_kubeconfig(folder: Path, server_url: str, *, force: bool = False) -> list[str]:
    """An admin client certificate (CN admin, O system:masters) and a kubeconfig for kubectl
    (``<folder>/kubeconfig``, the CA and the admin's key embedded) against the embedded API server
    at ``server_url``; the CA must exist (:func:`write_certificates` first).

    Raises:
        CertificateError: the CA is missing or unusable, or a file cannot be written.
    """
    try:
        return _write_kubeconfig(folder, server_url, force=force)
    except OSError as exc:
        raise CertificateError(f"cannot write the kubeconfig in {folder}: {exc.strerror or exc}: {exc.filename or folder}") from exc


def _write_kubeconfig(folder: Path, server_url: str, *, force: bool) -> list[str]:
    kubeconfig = folder / "kubeconfig"
    if kubeconfig.exists() and not force:
        return [f"kept {kubeconfig} (--force replaces it)"]
    ca_key, ca_cert = _load_ca(folder / "ca.crt", folder / "ca.key")
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"), x509.NameAttribute(NameOID.COMMON_NAME, "admin")])
    cert = _issue(ca_key, ca_cert, key, "admin", names=[], usage=ExtendedKeyUsageOID.CLIENT_AUTH, subject=name)
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    _write(folder / "admin.crt", cert_pem, private=False)
    _write(folder / "admin.key", _key_pem(key), private=True)
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    _write(kubeconfig, _kubeconfig_text(server_url, ca_pem, cert_pem, _key_pem(key)).encode(), private=True)
    return [f"wrote the admin certificate {folder / 'admin.crt'} and {kubeconfig} for {server_url}"]


def _kubeconfig_text(server_url: str, ca_pem: bytes, cert_pem: bytes, key_pem: bytes) -> str:
    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"""apiVersion: v1
kind: Config
clusters:
- name: kubeedge-actors
  cluster:
    server: {server_url}
    certificate-authority-data: {b64(ca_pem)}
users:
- name: admin
  user:
    client-certificate-data: {b64(cert_pem)}
    client-key-data: {b64(key_pem)}
contexts:
- name: kubeedge-actors
  context:
    cluster: kubeedge-actors
    user: admin
    namespace: default
current-context: kubeedge-actors
"""


def _load_ca(cert_path: Path, key_path: Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    try:
        ca_key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:  # not PEM, or encrypted
        raise CertificateError(f"{key_path} is not a usable private key: {exc}") from exc
    try:
        ca_cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError as exc:
        raise CertificateError(f"{cert_path} is not a PEM certificate: {exc}") from exc
    if not isinstance(ca_key, rsa.RSAPrivateKey):
        raise CertificateError(f"{key_path} is not an RSA key")
    return ca_key, ca_cert


def _new_key() -> rsa.RSAPrivateKey:
    # RSA: the original cloud offers only ECDHE-RSA-AES128-GCM-SHA256 (docs/protocol.md#3.2).
    return rsa.generate_private_key(public_exponent=65537, key_size=_KEY_BITS)


def _new_ca() -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubeedge-actors CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _issue(
    ca_key: rsa.RSAPrivateKey,
    ca_cert: x509.Certificate,
    key: rsa.RSAPrivateKey,
    common_name: str,
    *,
    names: list[str],
    usage: x509.ObjectIdentifier,
    subject: x509.Name | None = None,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())


def _write(path: Path, data: bytes, *, private: bool) -> None:
    # Keys are created 0600 before any byte is written.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    if private:
        path.chmod(0o600)


__all__ = ["issue_edge_certificate", "issue_edge_certificates", "write_certificates", "write_kubeconfig"]
