"""List + watch through the official client against the embedded API server (docs/protocol.md#12.5):
a restart of the server mid-watch, a 410 after it, and an unreachable server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes.client import CoreV1Api

from kubeedge_actors.testing import wait_until
from kubeedge_cloud.kube.watcher import Listed, Watched, Watcher, WatchEvent, list_call
from tests.kube.controller_site import pod
from tests.kube.site import KubeSite


class Recorder:
    """The watcher's hand-over; ``hold`` stops the watcher's thread inside the next event's hand-over."""

    def __init__(self, hold_on: type = Watched) -> None:
        self.hold_on = hold_on
        self.events: list[WatchEvent] = []
        self.hold = threading.Event()
        self.held = threading.Event()
        self.release = threading.Event()

    def __call__(self, event: WatchEvent) -> None:
        self.events.append(event)
        if self.hold.is_set() and isinstance(event, self.hold_on):
            self.hold.clear()
            self.held.set()
            self.release.wait(30)

    def names(self) -> list[tuple[str, str]]:
        return [(e.type, e.obj["metadata"]["name"]) if isinstance(e, Watched) else ("LISTED", ",".join(
            sorted(o["metadata"]["name"] for o in e.objects))) for e in self.events]  # fmt: skip


@pytest.fixture
def watched_pods(kube: KubeSite) -> Iterator[tuple[Watcher, Recorder, CoreV1Api]]:
    recorder = Recorder()
    with kube.client() as api_client:
        watcher = Watcher("Pod", list_call(api_client, "Pod"), recorder)
        watcher.start()
        try:
            yield watcher, recorder, CoreV1Api(api_client)
        finally:
            watcher.stop()


def test_a_watch_hands_over_the_list_then_every_change_with_its_kind(watched_pods: tuple[Watcher, Recorder, CoreV1Api]) -> None:
    _watcher, recorder, core = watched_pods
    wait_until(lambda: recorder.events, 15, 0.02, "the first list")
    core.create_namespaced_pod("default", pod("a", None))
    core.delete_namespaced_pod("a", "default", grace_period_seconds=0)

    wait_until(lambda: len(recorder.events) == 3, 15, 0.02, "two events")
    assert recorder.names() == [("LISTED", ""), ("ADDED", "a"), ("DELETED", "a")]
    added = recorder.events[1]
    assert isinstance(added, Watched) and (added.obj["kind"], added.obj["apiVersion"]) == ("Pod", "v1")


def test_a_watch_broken_by_a_restart_of_the_server_goes_on_from_the_last_event_handed_over(
    kube: KubeSite, watched_pods: tuple[Watcher, Recorder, CoreV1Api]
) -> None:
    watcher, recorder, core = watched_pods
    wait_until(lambda: recorder.events, 15, 0.02, "the first list")
    recorder.hold.set()
    core.create_namespaced_pod("default", pod("before", None))
    assert recorder.held.wait(15)  # the watcher's thread waits inside the hand-over of "before"

    kube.restart()  # its watch breaks
    with kube.client() as api_client:
        CoreV1Api(api_client).create_namespaced_pod("default", pod("after", None))
    recorder.release.set()

    wait_until(lambda: len(recorder.events) == 3, 30, 0.02, "the change after the restart")
    assert recorder.names() == [("LISTED", ""), ("ADDED", "before"), ("ADDED", "after")]
    assert (watcher.lists, watcher.failures) == (1, 1)


def test_a_watch_from_a_version_older_than_the_servers_window_gets_410_and_lists_again(tmp_path: Path) -> None:
    kube = KubeSite(tmp_path, watch_window=2)
    recorder = Recorder(hold_on=Listed)
    recorder.hold.set()
    try:
        with kube.client() as api_client:
            core = CoreV1Api(api_client)
            watcher = Watcher("Pod", list_call(api_client, "Pod"), recorder)
            watcher.start()
            assert recorder.held.wait(15)  # inside the hand-over of the first list: no watch yet
            for name in ("a", "b", "c"):
                core.create_namespaced_pod("default", pod(name, None))
            recorder.release.set()
            wait_until(lambda: len(recorder.events) == 2, 30, 0.02, "a second list")
            watcher.stop()
    finally:
        kube.stop()

    assert recorder.names() == [("LISTED", ""), ("LISTED", "a,b,c")]
    assert watcher.lists == 2


def test_a_watcher_started_while_the_server_is_away_tries_again_and_lists_once_it_is_back(kube: KubeSite) -> None:
    with kube.client() as api_client:
        CoreV1Api(api_client).create_namespaced_pod("default", pod("there", None))
        kube.pause()
        recorder = Recorder()
        watcher = Watcher("Pod", list_call(api_client, "Pod"), recorder)
        watcher.start()
        try:
            wait_until(lambda: watcher.failures >= 2, 15, 0.02, "two failed tries")
            kube.resume()
            wait_until(lambda: recorder.events, 30, 0.02, "the list once the server is back")
        finally:
            watcher.stop()

    assert recorder.names() == [("LISTED", "there")]
