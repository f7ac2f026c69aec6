"""The Prometheus endpoint: off by default, runtime and module figures when enabled."""

from __future__ import annotations

import urllib.request
from typing import Any

from kubeedge_actors import Config, ModuleSpec, Runtime
from kubeedge_actors.testing import make_message
from tests.runtime.actors_for_tests import EchoActor


class ReportingActor(EchoActor):
    def module_metrics(self) -> dict[str, float]:
        return {"cloud_connected": 1, "reconnects_total": 3}


def scrape(runtime: Runtime) -> str:
    assert runtime.metrics is not None
    with urllib.request.urlopen(f"http://127.0.0.1:{runtime.metrics.port}/metrics", timeout=5) as response:
        text: str = response.read().decode()
    return text


def enabled(**extra: Any) -> Config:
    return Config.defaults().with_values({"modules.enabled": ["echo"], "metrics.enabled": True, "metrics.port": 0, **extra})


def test_metrics_are_off_by_default() -> None:
    with Runtime(Config.defaults().with_values({"modules.enabled": []})) as runtime:
        assert runtime.metrics is None


def test_the_endpoint_shows_module_state_and_dead_letters() -> None:
    with Runtime(enabled(), {"echo": ModuleSpec(EchoActor)}) as runtime:
        runtime.router.send("echo", make_message())
        runtime.router.send("nobody", make_message())
        runtime.router.send_sync("echo", make_message("echo")).result(timeout=5)
        text = scrape(runtime)

    assert 'kubeedge_module_up{module="echo"} 1.0' in text
    assert 'kubeedge_mailbox_depth{module="echo"}' in text
    assert 'kubeedge_dead_letters_total{destination="nobody"} 1.0' in text
    assert 'kubeedge_messages_received_total{module="echo"} 2.0' in text


def test_figures_a_module_reports_appear_as_gauges_and_counters() -> None:
    with Runtime(enabled(), {"echo": ModuleSpec(ReportingActor)}) as runtime:
        text = scrape(runtime)

    assert 'kubeedge_cloud_connected{module="echo"} 1.0' in text
    assert 'kubeedge_reconnects_total{module="echo"} 3.0' in text


def test_the_endpoint_closes_with_the_runtime() -> None:
    runtime = Runtime(enabled(), {"echo": ModuleSpec(EchoActor)})
    runtime.start()
    port = runtime.metrics.port if runtime.metrics else 0

    runtime.stop()

    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2)
        raise AssertionError("the endpoint still answers")
    except OSError:
        pass
