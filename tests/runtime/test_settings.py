"""Settings are typed once: the typed readers of Config, and the runtime's frozen settings."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kubeedge_actors import Config, RestartPolicy, Runtime, RuntimeSettings
from kubeedge_actors.config import RUNTIME_KEYS, Key, KeyTable
from kubeedge_actors.errors import ConfigKeyError, InvalidArgumentError
from kubeedge_actors.logs import LogSettings
from kubeedge_actors.metrics import MetricsSettings

TABLE = RUNTIME_KEYS.extended(
    (
        Key("demo.name", "demo.yaml", str, "edge", "a text"),
        Key("demo.count", "demo.yaml", int, 3, "a whole number"),
        Key("demo.wait", "demo.yaml", float, 1.5, "a number"),
        Key("demo.on", "demo.yaml", bool, True, "a flag"),
        Key("demo.names", "demo.yaml", list, ["a", "b"], "strings"),
        Key("demo.file", "demo.yaml", str, "data/x.db", "a file"),
        Key("demo.ca", "demo.yaml", str, "", "a file that may be left empty"),
    ),
    files={"demo.yaml": "demo"},
)


def test_each_typed_reader_gives_the_value_of_its_kind() -> None:
    config = Config.defaults(TABLE).with_values({"demo.wait": 2})

    assert config.text("demo.name") == "edge"
    assert config.integer("demo.count") == 3
    assert config.number("demo.wait") == 2.0
    assert isinstance(config.number("demo.wait"), float)
    assert config.flag("demo.on") is True
    assert config.strings("demo.names") == ("a", "b")


def test_paths_resolve_beside_the_conf_folder_and_an_empty_optional_path_is_none(tmp_path: Path) -> None:
    config = Config({}, TABLE, base_dir=tmp_path)

    assert config.path("demo.file") == tmp_path / "data" / "x.db"
    assert config.optional_path("demo.ca") is None
    assert config.with_values({"demo.ca": "/etc/ca.crt"}).optional_path("demo.ca") == Path("/etc/ca.crt")


@pytest.mark.parametrize(
    ("read", "key", "error"),
    [
        (Config.integer, "demo.wait", "demo.wait is a number, not an integer"),
        (Config.text, "demo.count", "demo.count is an integer, not a string"),
        (Config.flag, "demo.name", "demo.name is a string, not true or false"),
        (Config.strings, "demo.on", "demo.on is true or false, not a list of strings"),
        (Config.number, "demo.cuont", r"'demo.cuont' is not a configuration key \(did you mean 'demo.count'\?\)"),
    ],
    ids=["float-as-int", "int-as-text", "text-as-flag", "flag-as-list", "typo"],
)
def test_reading_a_key_as_another_kind_or_a_key_the_table_lacks_fails_loudly(read: object, key: str, error: str) -> None:
    config = Config.defaults(TABLE)

    with pytest.raises(ConfigKeyError, match=error):
        read(config, key)  # type: ignore[operator]


@pytest.mark.parametrize(
    "key",
    [
        Key("x.port", "x.yaml", int, "80", "text where a number belongs"),
        Key("x.wait", "x.yaml", float, 30, "an int where a float belongs"),
        Key("x.on", "x.yaml", int, True, "a flag where a number belongs"),
        Key("x.names", "x.yaml", list, ["a", 1], "a number among strings"),
        Key("x.ca", "x.yaml", str, "a", "absent of another kind", absent=0),
    ],
    ids=["text-for-int", "int-for-float", "bool-for-int", "mixed-list", "absent"],
)
def test_a_key_table_refuses_a_default_that_is_not_of_the_keys_kind(key: Key) -> None:
    with pytest.raises(InvalidArgumentError, match=f"key {key.name}: .* is not of its kind"):
        KeyTable(keys=(key,), files={"x.yaml": ""})


def test_the_runtime_settings_are_read_once_from_the_runtime_keys() -> None:
    config = Config.defaults().with_values(
        {
            "modules.enabled": ["b", "a", "b"],
            "modules.restart.retries": 2,
            "modules.restart.interval": 0.5,
            "modules.stop-timeout": 4,
            "metrics.enabled": True,
            "metrics.port": 9999,
        }
    )

    settings = RuntimeSettings.from_config(config)

    assert settings == RuntimeSettings(
        enabled=("b", "a"),
        restart=RestartPolicy(retries=2, interval_s=0.5, grow_rate=2.0, max_interval_s=30.0, reset_after_s=60.0),
        stop_timeout_s=4.0,
        metrics=MetricsSettings(enabled=True, address="127.0.0.1", port=9999),
    )
    assert Runtime(config).settings == settings


def test_settings_are_frozen() -> None:
    settings = RuntimeSettings.from_config(Config.defaults())

    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.stop_timeout_s = 1.0  # type: ignore[misc]


def test_the_log_settings_resolve_the_log_file_beside_the_conf_folder(tmp_path: Path) -> None:
    config = Config({}, RUNTIME_KEYS, base_dir=tmp_path).with_values({"writers": ["stdout", "file"], "loggerFile": "logs/edge.log"})

    assert LogSettings.from_config(config) == LogSettings(
        level="INFO", text=True, writers=("stdout", "file"), file=tmp_path / "logs" / "edge.log", rsyslog=False
    )


def test_a_config_built_by_hand_is_read_as_the_table_says_or_fails_naming_the_key() -> None:
    config = Config({"demo.wait": 2, "demo.count": "3"}, TABLE)

    assert config.number("demo.wait") == 2.0
    with pytest.raises(ConfigKeyError, match=r"demo\.count holds '3', not an integer"):
        config.integer("demo.count")
