"""Background jobs when their actor stops: queued ones are dropped, running ones get
``module_stop_wait_s`` to end, and one that does not end is left behind on a daemon thread,
so it cannot keep the process alive (issue 11: a worker in a long Docker call did)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest

from kubeedge_actors import Router
from kubeedge_actors.testing import wait_until
from kubeedge_actors.workers import DaemonThreadPool
from tests.runtime.actors_for_tests import EchoActor, WorkDone

REPO = Path(__file__).resolve().parents[2]


class JobActor(EchoActor):
    """One worker thread; notes in ``events`` when its stop has finished."""

    module_worker_count = 1
    module_stop_wait_s = 30.0
    events: ClassVar[list[str]] = []

    def on_stop(self) -> None:
        super().on_stop()
        self.events.append("stopped")


class Job:
    """A background job that runs until released, noting when it started and ended."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.started = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> int:
        self.started.set()
        JobActor.events.append(f"{self.name} started")
        self.release.wait(30)
        JobActor.events.append(f"{self.name} ended")
        return 1


class QuickStopJobActor(JobActor):
    module_stop_wait_s = 0.05


@pytest.fixture(autouse=True)
def clean_records() -> Iterator[None]:
    JobActor.events.clear()
    EchoActor.journal.clear()
    EchoActor.lifecycle.clear()
    yield


def start_job(ref: Any, job: Job) -> None:
    ref.proxy().module_run_in_background(job, WorkDone).get(timeout=5)


def worker_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name.startswith("echo-worker")]


def test_a_stop_waits_for_a_running_background_job_to_end(router: Router) -> None:
    ref = JobActor.start(router)
    job = Job("create")
    start_job(ref, job)
    job.started.wait(5)

    ref.stop(block=False)
    wait_until(lambda: "stop echo" in EchoActor.lifecycle, what="the stop under way")
    job.release.set()

    wait_until(lambda: "stopped" in JobActor.events, what="the stop finished")
    assert JobActor.events == ["create started", "create ended", "stopped"]
    assert EchoActor.journal == []  # its outcome came after the stop: dropped


def test_a_background_job_still_running_after_the_wait_is_left_behind_on_a_daemon_thread(
    router: Router, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kubeedge_actors.actor")
    ref = QuickStopJobActor.start(router)
    job = Job("pull")
    start_job(ref, job)
    job.started.wait(5)

    ref.stop()

    try:
        assert JobActor.events == ["pull started", "stopped"]
        [thread] = worker_threads()
        assert thread.daemon and thread.is_alive()
        assert "echo: 1 background jobs still running at stop; left behind" in caplog.text
    finally:
        job.release.set()
    wait_until(lambda: not worker_threads(), what="the worker thread ended once its job did")
    assert EchoActor.journal == []


def test_a_stop_drops_background_jobs_still_queued(router: Router) -> None:
    ref = QuickStopJobActor.start(router)
    first, queued = Job("first"), Job("queued")
    start_job(ref, first)
    start_job(ref, queued)  # one worker: waits behind the first
    first.started.wait(5)

    ref.stop()
    first.release.set()
    queued.release.set()

    wait_until(lambda: not worker_threads(), what="the worker thread ended")
    assert JobActor.events == ["first started", "stopped", "first ended"]


def test_the_pool_runs_at_most_its_size_of_jobs_at_once_and_shutdown_can_wait_for_them() -> None:
    pool = DaemonThreadPool(2, "pool-test")
    jobs = [Job(f"job-{n}") for n in range(3)]
    futures = [pool.submit(job) for job in jobs]
    jobs[0].started.wait(5)
    jobs[1].started.wait(5)
    waiting = not jobs[2].started.is_set()
    threads = [thread for thread in threading.enumerate() if thread.name.startswith("pool-test")]

    for job in jobs:
        job.release.set()
    pool.shutdown(wait=True)

    assert waiting and len(threads) == 2 and all(thread.daemon for thread in threads)
    assert [future.result(timeout=5) for future in futures] == [1, 1, 1]
    assert not any(thread.is_alive() for thread in threads)
    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(lambda: 1)


STUCK_PROGRAM = """
import threading
from kubeedge_actors import Config, Runtime
from kubeedge_actors.runtime import ModuleSpec
from tests.runtime.actors_for_tests import EchoActor, WorkDone

class Stuck(EchoActor):
    module_stop_wait_s = 0.1

    def on_start(self):
        self.module_run_in_background(threading.Event().wait, WorkDone)  # never ends

runtime = Runtime(Config.defaults().with_values({"modules.enabled": []}))
runtime.add_module(ModuleSpec(Stuck))
runtime.start()
runtime.stop()
print("stopped", flush=True)
"""


def test_a_process_exits_though_a_stopped_actors_background_job_never_ends() -> None:
    environment = {**os.environ, "PYTHONPATH": str(REPO)}

    # The exit itself is the assertion: a non-daemon worker would keep the process alive.
    done = subprocess.run(
        [sys.executable, "-c", STUCK_PROGRAM], cwd=REPO, env=environment, capture_output=True, text=True, timeout=30, check=False
    )

    assert (done.returncode, done.stdout) == (0, "stopped\n"), done.stderr
