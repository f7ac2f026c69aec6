"""The runtime: modules from modules.enabled, start order, supervision, stop."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from kubeedge_actors import Config, InvalidArgumentError, ModuleSpec, RestartPolicy, Runtime
from kubeedge_actors.testing import make_message, start_probe, wait_until
from tests.runtime.actors_for_tests import EchoActor, FailingStartActor, SlowStopActor

FAST_RESTARTS = {"modules.restart.interval": 0.01, "modules.restart.max-interval": 0.05, "modules.stop-timeout": 1.0}


@pytest.fixture(autouse=True)
def clean_journal() -> Iterator[None]:
    EchoActor.journal.clear()
    EchoActor.lifecycle.clear()
    FailingStartActor.starts = 0
    yield


def echo_modules(*names: str) -> dict[str, ModuleSpec]:
    return {name: ModuleSpec(EchoActor, name=name, group=name) for name in names}


def config(enabled: list[str], **extra: object) -> Config:
    return Config.defaults().with_values({"modules.enabled": enabled, **FAST_RESTARTS, **extra})


class HelloOnStartActor(EchoActor):
    """Sends the hub a note in ``on_start``, as meta forwards a pod status before the hub starts."""

    def on_start(self) -> None:
        super().on_start()
        self.module_router.send("websocket", make_message("note", content=f"hello from {self.module_name}"))


def test_a_message_for_a_module_that_starts_later_waits_for_it() -> None:
    modules = {"metaManager": ModuleSpec(HelloOnStartActor, name="metaManager", group="meta"), **echo_modules("websocket")}
    runtime = Runtime(config(["websocket", "metaManager"]), modules)

    runtime.start()

    wait_until(lambda: ("websocket", "hello from metaManager") in EchoActor.journal, what="the note at the hub")
    assert runtime.router.dead_letter_count == 0
    runtime.stop()


def test_modules_start_in_the_order_the_composition_root_gives_and_stop_in_reverse() -> None:
    orders = {"storage": 10, "devices": 20, "pods": 40, "link": 90}
    modules = {name: ModuleSpec(EchoActor, name=name, group=name, start_order=order) for name, order in orders.items()}
    runtime = Runtime(config(["link", "pods", "devices", "storage"]), modules)

    runtime.start()
    runtime.stop()

    order = ["storage", "devices", "pods", "link"]
    assert EchoActor.lifecycle == [f"start {n}" for n in order] + [f"stop {n}" for n in reversed(order)]


def test_modules_of_equal_start_order_start_in_the_order_given() -> None:
    runtime = Runtime(config(["b", "a"]), echo_modules("a", "b"))
    runtime.add_module(ModuleSpec(EchoActor, name="c", group="c"))

    runtime.start()
    runtime.stop()

    assert EchoActor.lifecycle[:3] == ["start a", "start b", "start c"]


def test_an_enabled_module_without_implementation_is_reported_once_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    runtime = Runtime(config(["metaManager", "edgemesh", "edgemesh"]), echo_modules("metaManager"))

    with caplog.at_level(logging.WARNING), runtime:
        assert runtime.running_modules() == ["metaManager"]

    warnings = [r.getMessage() for r in caplog.records if "edgemesh" in r.getMessage()]
    assert warnings == ["runtime: module edgemesh is enabled but has no implementation yet; skipped"]
    assert runtime.skipped == ("edgemesh",)


def test_a_module_not_enabled_is_not_started() -> None:
    with Runtime(config(["twin"]), echo_modules("twin", "edged")) as runtime:
        assert runtime.running_modules() == ["twin"]


def test_a_module_given_by_a_loader_is_loaded_only_when_enabled_and_started() -> None:
    loads: list[str] = []

    def load_echo() -> type[EchoActor]:
        loads.append("loaded")
        return EchoActor

    modules = {**echo_modules("twin"), "mapper": ModuleSpec(load=load_echo, name="mapper", group="mapper")}

    with Runtime(config(["twin"]), modules):
        assert loads == []
    with Runtime(config(["twin", "mapper"]), modules) as runtime:
        assert (runtime.running_modules(), loads) == (["twin", "mapper"], ["loaded"])


@pytest.mark.parametrize(
    "arguments",
    [{}, {"actor_class": EchoActor, "load": lambda: EchoActor}, {"load": lambda: EchoActor, "name": "mapper"}],
    ids=["neither class nor loader", "both", "loader without group"],
)
def test_a_module_spec_needs_one_way_to_its_class_and_a_loader_needs_its_names(arguments: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentError, match="module spec"):
        ModuleSpec(**arguments)  # type: ignore[arg-type]


def test_an_embedding_program_adds_its_own_actor_beside_the_builtin_ones() -> None:
    modules = {
        "storage": ModuleSpec(EchoActor, name="storage", group="storage", start_order=10),
        "link": ModuleSpec(EchoActor, name="link", group="link", start_order=90),
    }
    runtime = Runtime(config(["storage", "link"]), modules)
    runtime.add_module(ModuleSpec(EchoActor, name="custom", group="user"))

    with runtime:
        reply = runtime.router.send_sync("custom", make_message("echo", content="hi"), timeout_s=5).result(timeout=5)

    assert reply.content == "hi"
    assert EchoActor.lifecycle[:3] == ["start storage", "start custom", "start link"]


def test_a_module_added_while_running_starts_at_once() -> None:
    with Runtime(config([])) as runtime:
        runtime.add_module(EchoActor)

        assert runtime.router.is_alive("echo")


def test_adding_a_second_module_of_the_same_name_is_refused() -> None:
    runtime = Runtime(config([]))
    runtime.add_module(EchoActor)

    with pytest.raises(InvalidArgumentError, match="already present") as caught:
        runtime.add_module(EchoActor)

    assert isinstance(caught.value, ValueError)  # what a caller of the API before the root caught


@pytest.mark.crashes_on_purpose
def test_a_crashed_module_is_restarted_under_the_same_name() -> None:
    with Runtime(config(["echo"]), echo_modules("echo")) as runtime:
        first = runtime.actor_ref("echo")
        runtime.router.send("echo", make_message("crash"))

        wait_until(lambda: runtime.restart_count("echo") == 1, what="restart")
        reply = runtime.router.send_sync("echo", make_message("echo", content="back"), timeout_s=5).result(timeout=5)

    assert reply.content == "back"
    assert runtime.actor_ref("echo") is not first


@pytest.mark.crashes_on_purpose
def test_messages_sent_while_a_module_restarts_are_delivered_to_the_new_actor_in_order() -> None:
    slow_restart = {"modules.restart.interval": 0.3}
    with Runtime(config(["echo"], **slow_restart), echo_modules("echo")) as runtime:
        runtime.router.send("echo", make_message("crash", content="crash"))
        wait_until(lambda: not runtime.router.is_alive("echo"), what="crash")
        for i in range(5):
            runtime.router.send("echo", make_message("note", content=i))

        wait_until(lambda: len(EchoActor.journal) == 6, what="held messages delivered")

    assert [content for _, content in EchoActor.journal] == ["crash", 0, 1, 2, 3, 4]
    assert runtime.router.dead_letter_count == 0


@pytest.mark.crashes_on_purpose
def test_a_module_that_keeps_failing_is_given_up_after_the_retry_limit() -> None:
    cfg = config(["failing"], **{"modules.restart.retries": 3})

    with Runtime(cfg, {"failing": ModuleSpec(FailingStartActor)}) as runtime:
        wait_until(lambda: runtime.running_modules() == [], what="give up")

        assert FailingStartActor.starts == 4  # the first start and 3 restarts
        assert runtime.router.send_sync("failing", make_message()).exception(timeout=1) is not None


def test_restart_waits_grow_by_the_rate_up_to_the_cap() -> None:
    policy = RestartPolicy(retries=0, interval_s=1, grow_rate=2, max_interval_s=5)

    backoff = policy.new_backoff()

    assert [backoff.next_delay() for _ in range(5)] == [1, 2, 4, 5, 5]
    assert policy.gives_up_at(1000) is False


def test_a_module_that_does_not_stop_in_time_is_left_behind_and_the_rest_stop() -> None:
    SlowStopActor.release.clear()
    runtime = Runtime(config(["metaManager"]), echo_modules("metaManager"))
    runtime.add_module(SlowStopActor)
    runtime.start()

    started = time.monotonic()
    runtime.stop()
    SlowStopActor.release.set()

    assert time.monotonic() - started < 5
    assert "stop metaManager" in EchoActor.lifecycle


def test_stop_leaves_no_actor_thread_behind() -> None:
    before = {t.name for t in threading.enumerate()}
    with Runtime(config(["metaManager", "twin"]), echo_modules("metaManager", "twin")):
        pass

    wait_until(lambda: {t.name for t in threading.enumerate() if "EchoActor" in t.name} - before == set(), what="threads gone")


def test_modules_reach_each_other_by_name_through_the_router() -> None:
    with Runtime(config(["metaManager"]), echo_modules("metaManager")) as runtime:
        probe = start_probe(runtime.router, "edged", "edged")
        runtime.router.send("edged", make_message(content="to edged"))

        assert probe.wait_for().content == "to edged"


@pytest.mark.crashes_on_purpose
def test_a_batch_sent_while_a_module_restarts_is_held_and_delivered_in_order() -> None:
    slow_restart = {"modules.restart.interval": 0.3}
    with Runtime(config(["echo"], **slow_restart), echo_modules("echo")) as runtime:
        runtime.router.send("echo", make_message("crash", content="crash"))
        wait_until(lambda: not runtime.router.is_alive("echo"), what="crash")
        runtime.router.send_batch("echo", [make_message("note", content=i) for i in range(3)])

        wait_until(lambda: len(EchoActor.journal) == 4, what="held batch delivered")

    assert [content for _, content in EchoActor.journal] == ["crash", 0, 1, 2]
    assert runtime.router.dead_letter_count == 0
