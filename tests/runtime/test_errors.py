"""One exception root, actually used: every error the runtime defines or raises derives from
KubeEdgeActorsError, and the ones that stand for a built-in still are one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from actors.keys import edge_defaults
from kubeedge_actors import ModuleActor, Router
from kubeedge_actors.checks import errors_outside_the_root
from kubeedge_actors.config import Key, KeyTable
from kubeedge_actors.errors import ConfigKeyError, InvalidArgumentError, ModuleDefinitionError, ShutDownError
from kubeedge_actors.scheduler import Scheduler
from kubeedge_actors.sqlite import open_database
from kubeedge_actors.workers import DaemonThreadPool


def test_every_error_the_runtime_defines_or_raises_derives_from_the_root() -> None:
    # The test helpers fail a test the way pytest expects: with an AssertionError.
    assert errors_outside_the_root("kubeedge_actors", allow={"kubeedge_actors.testing": (AssertionError,)}) == []


def test_the_check_finds_a_raise_of_a_built_in_and_a_class_outside_the_root() -> None:
    found = errors_outside_the_root("tests.runtime.errors_outside_for_tests")

    assert [re.sub(r":\d+:", ":", line) for line in found] == [
        "tests.runtime.errors_outside_for_tests: class StrayError",
        "tests.runtime.errors_outside_for_tests: raise ValueError",
        "tests.runtime.errors_outside_for_tests: raise StrayError",
    ]


def test_a_module_class_without_a_name_is_a_definition_error_and_still_a_type_error(router: Router) -> None:
    class Nameless(ModuleActor):
        module_group = "test"

    with pytest.raises(ModuleDefinitionError, match="Nameless needs a module_name") as caught:
        Nameless(router)

    assert isinstance(caught.value, TypeError)


def test_a_job_offered_after_shutdown_is_refused_with_an_error_of_the_root() -> None:
    pool = DaemonThreadPool(1, "test")
    pool.shutdown()

    with pytest.raises(ShutDownError, match="after shutdown") as caught:
        pool.submit(lambda: None)

    assert isinstance(caught.value, RuntimeError)


def test_a_timer_interval_of_zero_is_an_invalid_argument() -> None:
    scheduler = Scheduler()

    with pytest.raises(InvalidArgumentError, match="interval must be positive, not 0"):
        scheduler.call_every(0, lambda: None)

    scheduler.close()


def test_an_unknown_journal_mode_is_an_invalid_argument(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="journal mode 'memory': must be one of wal, delete"):
        open_database(tmp_path / "x.db", "memory")


def test_a_key_table_naming_a_key_twice_is_an_invalid_argument() -> None:
    key = Key("a.b", "x.yaml", int, 1, "a key")

    with pytest.raises(InvalidArgumentError, match="names a key twice"):
        KeyTable(keys=(key, key), files={"x.yaml": ""})


def test_an_unknown_key_asked_by_code_is_a_config_key_error_and_still_a_key_error_with_a_readable_text() -> None:
    with pytest.raises(ConfigKeyError) as caught:
        edge_defaults()["mqtt.mdoe"]

    assert isinstance(caught.value, KeyError)
    assert str(caught.value) == "'mqtt.mdoe' is not a configuration key (did you mean 'mqtt.mode'?)"
