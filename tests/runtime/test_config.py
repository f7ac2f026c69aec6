"""Configuration: shipped files, files of the original, warnings and errors with lines."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.keys import EDGE_KEYS, edge_defaults
from kubeedge_actors import ConfigError
from kubeedge_actors.config import KeyTable, load_config, render_default_file
from kubeedge_cloud.keys import CLOUD_KEYS, cloud_defaults

REPO = Path(__file__).resolve().parents[2]
ORIGINAL_CONF = Path(__file__).parent / "original_conf"


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder


SHIPPED = [(EDGE_KEYS, file) for file in EDGE_KEYS.files] + [(CLOUD_KEYS, file) for file in CLOUD_KEYS.files]


@pytest.mark.parametrize(("table", "file"), SHIPPED, ids=[f"{'cloud' if t is CLOUD_KEYS else 'edge'}-{f}" for t, f in SHIPPED])
def test_the_shipped_conf_is_exactly_the_rendered_defaults(table: KeyTable, file: str) -> None:
    # Regenerate with: python -m kubeedge_actors --print-default-config (and python -m kubeedge_cloud ...).
    assert (REPO / "conf" / file).read_text() == render_default_file(table, file)


def test_the_shipped_conf_loads_to_the_defaults_without_warnings() -> None:
    config = load_config(REPO / "conf", EDGE_KEYS)

    assert config.warnings == ()
    assert dict(config.items()) == dict(edge_defaults().items())


def test_the_cloud_side_reads_only_its_own_file_of_the_shared_conf() -> None:
    config = load_config(REPO / "conf", CLOUD_KEYS)

    assert config.warnings == ()
    assert config.sources.keys() == {key.name for key in CLOUD_KEYS.keys}
    assert {source.split(":")[0] for source in config.sources.values()} == {str(REPO / "conf" / "cloudhub.yaml")}
    assert dict(config.items()) == dict(cloud_defaults().items())


def test_the_edge_never_reads_the_cloud_side_file(tmp_path: Path) -> None:
    folder = write(tmp_path, "cloudhub.yaml", "cloudhub:\n  port: not-a-port\nfrobnicate: 1\n")

    config = load_config(folder, EDGE_KEYS)

    assert config.warnings == ()


@pytest.mark.parametrize("table", [EDGE_KEYS, CLOUD_KEYS], ids=["edge", "cloud"])
def test_every_key_is_documented_in_its_shipped_file(table: KeyTable) -> None:
    for key in table.keys:
        text = (REPO / "conf" / key.file).read_text()
        assert f"# {key.doc}\n" in text, key.name


@pytest.mark.parametrize("version", ["seed", "r0", "v0.2", "v1.0.0"])
def test_a_config_written_for_the_original_loads_with_its_values(version: str) -> None:
    config = load_config(ORIGINAL_CONF / version, EDGE_KEYS)

    assert config["edgehub.controller.heartbeat"] == 15
    assert config["edged.image-gc-high-threshold"] == 80
    assert config["edgehub.controller.node-id"] == "fb4ebb70-2783-42b8-b3ef-63e2fd6d242e"


@pytest.mark.parametrize("version", ["v0.2", "v1.0.0"])
def test_the_original_conf_of_v0_2_and_v1_0_0_loads_without_warnings(version: str) -> None:
    assert load_config(ORIGINAL_CONF / version, EDGE_KEYS).warnings == ()


@pytest.mark.parametrize("version", ["seed", "r0"])
def test_a_node_name_other_than_the_node_id_is_one_warning_naming_both(version: str) -> None:
    # The seed's hostname-override is not its node-id: each is used where the original uses it.
    config = load_config(ORIGINAL_CONF / version, EDGE_KEYS)

    [warning] = config.warnings
    assert warning.startswith(f"{ORIGINAL_CONF / version / 'edge.yaml'}:")
    assert "edged.hostname-override '93e05fa9-b782-4a59-9d02-9f6e639b4205' is not edgehub.controller.node-id" in warning
    assert "'fb4ebb70-2783-42b8-b3ef-63e2fd6d242e'" in warning
    assert config["edged.hostname-override"] == "93e05fa9-b782-4a59-9d02-9f6e639b4205"


def test_a_node_id_set_alone_is_a_warning_at_its_line(tmp_path: Path) -> None:
    folder = write(tmp_path, "edge.yaml", "edgehub:\n  controller:\n    node-id: n1\n")

    [warning] = load_config(folder, EDGE_KEYS).warnings

    assert warning.startswith(f"{folder / 'edge.yaml'}:3: edged.hostname-override 'edge-node' is not edgehub.controller.node-id 'n1'")


def test_the_seed_readme_conf_runs_the_five_modules_with_the_embedded_broker() -> None:
    # No modules.yaml, no mqtt.mode: what v1.0.0 does without them (docs/protocol.md#4.1).
    config = load_config(ORIGINAL_CONF / "seed", EDGE_KEYS)

    assert config["modules.enabled"] == ["eventbus", "websocket", "metaManager", "edged", "twin"]
    assert config["mqtt.mode"] == 0
    assert config["edgehub.websocket.url"] == "ws://127.0.0.1:20000/fake_group_id/events"
    assert config["edgehub.websocket.certfile"] == "/tmp/edge.crt"


# --- edgehub.websocket.cafile: absent means what it meant in the original --------------------


@pytest.mark.parametrize("version", ["seed", "r0", "v0.2", "v1.0.0"])
def test_a_cafile_absent_from_the_original_files_means_the_cloud_is_not_verified(version: str) -> None:
    # v1.0.0's edgehub.quic.cafile is QUIC's, which we do not use: it is not the websocket's.
    assert load_config(ORIGINAL_CONF / version, EDGE_KEYS)["edgehub.websocket.cafile"] == ""


def test_a_cafile_set_in_the_files_is_the_one_used(tmp_path: Path) -> None:
    folder = write(tmp_path / "conf", "edge.yaml", "edgehub:\n  websocket:\n    cafile: /etc/kubeedge/ca.crt\n")

    assert load_config(folder, EDGE_KEYS)["edgehub.websocket.cafile"] == "/etc/kubeedge/ca.crt"


def test_an_explicitly_empty_cafile_stays_empty(tmp_path: Path) -> None:
    folder = write(tmp_path, "edge.yaml", 'edgehub:\n  websocket:\n    cafile: ""\n')

    assert load_config(folder, EDGE_KEYS)["edgehub.websocket.cafile"] == ""


def test_a_conf_folder_without_edge_yaml_also_leaves_the_cafile_out(tmp_path: Path) -> None:
    folder = write(tmp_path, "modules.yaml", "modules:\n  enabled: [websocket]\n")

    assert load_config(folder, EDGE_KEYS)["edgehub.websocket.cafile"] == ""


def test_the_shipped_conf_and_the_built_in_defaults_keep_verifying_the_cloud() -> None:
    assert load_config(REPO / "conf", EDGE_KEYS)["edgehub.websocket.cafile"] == "certs/ca.crt"
    assert edge_defaults()["edgehub.websocket.cafile"] == "certs/ca.crt"
    assert "\n    cafile: certs/ca.crt\n" in render_default_file(EDGE_KEYS, "edge.yaml")


def test_every_key_whose_absence_differs_from_its_default_says_so_in_its_doc() -> None:
    differing = [key for key in (*EDGE_KEYS.keys, *CLOUD_KEYS.keys) if key.value_when_absent != key.default]

    assert [key.name for key in differing] == ["edgehub.websocket.cafile"]
    for key in differing:
        assert "absent" in key.doc, key.name


def test_values_from_the_original_files_are_used() -> None:
    config = load_config(ORIGINAL_CONF / "v0.2", EDGE_KEYS)

    assert config["edgehub.controller.node-id"] == "fb4ebb70-2783-42b8-b3ef-63e2fd6d242e"
    assert config["edgehub.websocket.certfile"] == "/tmp/edge.crt"
    assert config["modules.enabled"] == ["eventbus", "websocket", "metaManager", "edged", "twin", "dbTest"]
    assert config["loggerLevel"] == "DEBUG"


def test_an_unknown_key_is_a_warning_that_suggests_the_right_key(tmp_path: Path) -> None:
    folder = write(tmp_path, "edge.yaml", "edgehub:\n  controller:\n    heartbeet: 5\n")

    config = load_config(folder, EDGE_KEYS)

    assert config.warnings == (
        f"{folder / 'edge.yaml'}:3: unknown key 'edgehub.controller.heartbeet' (did you mean 'edgehub.controller.heartbeat'?); ignored",
    )
    assert config["edgehub.controller.heartbeat"] == 15


def test_an_unknown_key_with_no_near_match_is_a_plain_warning(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "edge.yaml", "frobnicate: 1\n"), EDGE_KEYS)

    assert config.warnings == (f"{tmp_path / 'edge.yaml'}:1: unknown key 'frobnicate'; ignored",)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("edgehub:\n  controller:\n    heartbeat: soon\n", 3, "edgehub.controller.heartbeat must be a number, not 'soon'"),
        ("mqtt:\n  mode: 7\n", 2, "mqtt.mode must be one of 0, 1, 2, not 7"),
        ("mqtt:\n  retain: 1\n", 2, "mqtt.retain must be true or false, not 1"),
        ("edged:\n  image-gc-high-threshold: 180\n", 2, "edged.image-gc-high-threshold must be a percentage from 0 to 100, not 180"),
        ("edgehub:\n  websocket:\n    url: http://x/y\n", 3, "edgehub.websocket.url must be a URL starting with ws:// or wss://"),
        ("modules:\n  enabled: meta\n", 2, "modules.enabled must be a list of strings, not 'meta'"),
        ("edgehub:\n  controller:\n    heartbeat: -1\n", 3, "edgehub.controller.heartbeat must be greater than 0, not -1"),
    ],
    ids=["text-for-number", "mode-out-of-range", "number-for-bool", "percent", "url-scheme", "scalar-for-list", "negative"],
)
def test_a_bad_value_is_an_error_naming_file_key_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    folder = write(tmp_path, "edge.yaml", text)

    with pytest.raises(ConfigError) as caught:
        load_config(folder, EDGE_KEYS)

    assert str(caught.value).startswith(f"{folder / 'edge.yaml'}:{line}: {message}")


def test_a_broken_yaml_file_is_an_error_naming_file_and_line(tmp_path: Path) -> None:
    folder = write(tmp_path, "edge.yaml", "mqtt:\n  server: tcp://x\n   mode: [1\n")

    with pytest.raises(ConfigError, match=rf"{tmp_path / 'edge.yaml'}:\d+: not valid YAML"):
        load_config(folder, EDGE_KEYS)


def test_a_file_that_is_not_a_mapping_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config(write(tmp_path, "edge.yaml", "- a\n- b\n"), EDGE_KEYS)


def test_an_empty_file_is_fine(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, "edge.yaml", ""), EDGE_KEYS).warnings == ()


def test_a_missing_folder_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope", EDGE_KEYS)


def test_a_digits_only_node_id_is_still_text(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "edge.yaml", "edgehub:\n  controller:\n    node-id: 12345\n"), EDGE_KEYS)

    assert config["edgehub.controller.node-id"] == "12345"


def test_with_values_checks_like_a_file() -> None:
    with pytest.raises(ConfigError, match=r"did you mean 'mqtt\.mode'"):
        edge_defaults().with_values({"mqtt.mdoe": 1})
    with pytest.raises(ConfigError, match=r"mqtt\.mode must be one of"):
        edge_defaults().with_values({"mqtt.mode": 9})


def test_asking_code_for_an_unknown_key_fails_loudly() -> None:
    with pytest.raises(KeyError):
        edge_defaults()["mqtt.nope"]


def test_relative_paths_resolve_beside_the_conf_folder(tmp_path: Path) -> None:
    config = load_config(write(tmp_path / "site" / "conf", "edge.yaml", "database:\n  source: data/edge.db\n"), EDGE_KEYS)

    assert config.path("database.source") == tmp_path / "site" / "data" / "edge.db"


def test_values_remember_where_they_came_from(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "edge.yaml", "\nmqtt:\n  mode: 2\n"), EDGE_KEYS)

    assert config.sources["mqtt.mode"] == f"{tmp_path / 'edge.yaml'}:3"
