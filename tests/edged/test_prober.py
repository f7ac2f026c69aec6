"""Tier 2: the prober against real sockets on loopback (HTTP and TCP probes, timeouts, its bound on threads)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from actors.edged.model import ExecResult
from actors.edged.podspec_lifecycle import Handler, Probe
from actors.edged.probes import USER_AGENT, ProbeOutcome, Prober, run_handler
from kubeedge_actors.testing import wait_until
from tests.edged.fakes import FakeRuntime


class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.agents.append(self.headers.get("User-Agent", ""))  # type: ignore[attr-defined]  # before answering
        code = 500 if self.path == "/broken" else 200
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


AGENTS: list[str] = []


@pytest.fixture
def http_port() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    server.agents = AGENTS  # type: ignore[attr-defined]
    AGENTS.clear()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """Accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(200)
    yield listener.getsockname()[1]
    listener.close()


@pytest.fixture
def prober() -> Iterator[Prober]:
    running = Prober(FakeRuntime(lambda: 0.0), exec_workers=2)
    yield running
    running.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(prober: Prober, handler: Handler, timeout_s: float = 1.0) -> ProbeOutcome:
    results: list[ProbeOutcome] = []
    prober.submit("c1", Probe(handler, timeout_s=timeout_s), "127.0.0.1", results.append)
    wait_until(lambda: results, 10, 0.01, "the probe's result")
    return results[0]


def test_an_http_probe_succeeds_on_200_and_fails_on_500_naming_the_code(prober: Prober, http_port: int) -> None:
    assert run(prober, Handler("httpGet", port=http_port, path="/")) == ProbeOutcome(True)
    failed = run(prober, Handler("httpGet", port=http_port, path="/broken"))
    assert not failed.ok and "statuscode: 500" in failed.message


@pytest.mark.parametrize("kind", ["httpGet", "tcpSocket"])
def test_a_probe_of_a_closed_port_fails(prober: Prober, kind: str) -> None:
    handler = Handler(kind, port=closed_port())

    outcome = run(prober, handler)

    assert not outcome.ok and outcome.message.startswith(handler.describe()) and "Connect call failed" in outcome.message


def test_an_http_probe_that_gets_no_answer_fails_after_its_timeout(prober: Prober, silent_port: int) -> None:
    outcome = run(prober, Handler("httpGet", port=silent_port), timeout_s=1.0)

    assert not outcome.ok and "timed out after 1s" in outcome.message


def test_a_tcp_probe_of_a_listening_port_succeeds(prober: Prober, silent_port: int) -> None:
    assert run(prober, Handler("tcpSocket", port=silent_port)) == ProbeOutcome(True)


def test_a_hundred_http_probes_at_once_need_one_thread(prober: Prober, silent_port: int) -> None:
    results: list[ProbeOutcome] = []
    before = threading.active_count()

    for index in range(100):
        prober.submit(f"c{index}", Probe(Handler("httpGet", port=silent_port), timeout_s=1.0), "127.0.0.1", results.append)
    during = threading.active_count()
    wait_until(lambda: len(results) == 100, 20, 0.05, "100 probe results")

    assert during - before <= 1 and prober.thread_count() == 1
    assert all(not r.ok for r in results)


def test_a_blocking_http_hook_calls_with_the_kubelets_user_agent(http_port: int) -> None:
    outcome = run_handler(FakeRuntime(lambda: 0.0), "c1", Handler("httpGet", port=http_port, path="/hook"), "127.0.0.1", 1.0)

    assert outcome == ProbeOutcome(True)
    assert AGENTS == [USER_AGENT]


class _SlowExec(FakeRuntime):
    """Each exec waits until the test lets it end."""

    def __init__(self) -> None:
        super().__init__(lambda: 0.0)
        self.release = threading.Event()

    def exec_command(self, container_id: str, command: tuple[str, ...], timeout_s: float) -> ExecResult:
        self.release.wait(10)
        return ExecResult(0)


def test_exec_probes_queue_for_a_few_workers_however_many_are_due() -> None:
    runtime = _SlowExec()
    prober = Prober(runtime, exec_workers=2)
    results: list[ProbeOutcome] = []

    for index in range(20):
        prober.submit(f"c{index}", Probe(Handler("exec", command=("true",))), "", results.append)
    threads_while_blocked = prober.thread_count()
    runtime.release.set()
    wait_until(lambda: len(results) == 20, 10, 0.01, "20 exec probe results")
    prober.close()

    assert threads_while_blocked == 2
    assert results == [ProbeOutcome(True)] * 20
