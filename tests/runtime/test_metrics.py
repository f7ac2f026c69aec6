"""The Prometheus endpoint: off by default, runtime and module figures when enabled."""

from __future__ import annotations

import urllib.request
from typing import Any

import pytest

from kubeedge_actors import Config, ModuleSpec, Runtime
from kubeedge_actors.metrics import labelled, parse_figure_key
from kubeedge_actors.testing import make_message
from tests.runtime.actors_for_tests import EchoActor


class ReportingActor(EchoActor):
    def module_metrics(self) -> dict[str, float]:
        return {"cloud_connected": 1, "reconnects_total": 3}


class LabellingActor(EchoActor):
    def module_metrics(self) -> dict[str, float]:
        return {
            labelled("pods", phase="Running"): 2,
            labelled("pods", phase="Pending"): 1,
            labelled("drops_total", broker="internal"): 4,
            "pods": 9,  # the same name without its labels: skipped, not a broken scrape
        }


class BrokenReportingActor(EchoActor):
    module_name = "broken"
    module_group = "broken"

    def module_metrics(self) -> dict[str, float]:
        raise RuntimeError("a bug in the figures")


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


def test_figures_with_labels_become_one_family_with_a_series_per_label_value() -> None:
    with Runtime(enabled(), {"echo": ModuleSpec(LabellingActor)}) as runtime:
        text = scrape(runtime)

    assert 'kubeedge_pods{module="echo",phase="Running"} 2.0' in text
    assert 'kubeedge_pods{module="echo",phase="Pending"} 1.0' in text
    assert 'kubeedge_drops_total{broker="internal",module="echo"} 4.0' in text
    assert 'kubeedge_pods{module="echo"} 9.0' not in text


def test_a_module_whose_figures_fail_leaves_the_others_and_keeps_running() -> None:
    config = enabled(**{"modules.enabled": ["echo", "broken"]})
    with Runtime(config, {"echo": ModuleSpec(ReportingActor), "broken": ModuleSpec(BrokenReportingActor)}) as runtime:
        first, second = scrape(runtime), scrape(runtime)
        alive = runtime.router.is_alive("broken")

    assert 'kubeedge_cloud_connected{module="echo"} 1.0' in first
    assert 'kubeedge_module_up{module="broken"} 1.0' in second
    assert alive


def test_the_endpoint_shows_the_process_memory_cpu_and_threads() -> None:
    with Runtime(enabled(), {"echo": ModuleSpec(EchoActor)}) as runtime:
        text = scrape(runtime)

    assert "process_resident_memory_bytes " in text
    assert "process_cpu_seconds_total " in text
    assert "kubeedge_threads " in text
    assert "python_info{" in text


@pytest.mark.parametrize(
    ("key", "parsed"),
    [
        ("reconnects_total", ("reconnects_total", {})),
        ('pods{phase="Running"}', ("pods", {"phase": "Running"})),
        ('rows{type="pod",x="a b"}', ("rows", {"type": "pod", "x": "a b"})),
        ("two words", None),
        ('pods{module="x"}', None),
        ("pods{phase=Running}", None),
    ],
    ids=["plain", "one label", "two labels", "bad name", "module is the endpoint's", "unquoted value"],
)
def test_figure_keys_are_parsed_into_a_name_and_labels(key: str, parsed: Any) -> None:
    assert parse_figure_key(key) == parsed


def test_a_labelled_key_cannot_be_broken_by_its_value() -> None:
    assert parse_figure_key(labelled("rows", type='a"b\\c')) == ("rows", {"type": "a_b_c"})


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
