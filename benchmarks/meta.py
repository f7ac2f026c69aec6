"""The meta actor's SQLite throughput against bare peewee, measured in the same run.

- ``inserts_per_s``: 10,000 pod-sized cloud inserts sent through the router to a started meta
  actor, timed until the last one is acknowledged (meta acknowledges only after the commit,
  so: until all are stored). Includes routing, encoding the content, forwarding every insert
  to edged and the "OK" to the cloud.
- ``insert_vs_raw_peewee``: that rate divided by a bare peewee loop inserting the same rows,
  already encoded, into the same table of a fresh file with the same pragmas, one statement
  (and so one transaction) per row — the plain way to write them.
- ``query_p50_ms``: p50 of a sync query for one pod by key through ``router.send_sync``, with
  the 10,000 rows stored.
- ``ack_p50_ms``: p50 of one insert sent alone, until its "OK" (one commit per insert: the
  cost of a commit as sparse traffic sees it).
- extra: ``raw_one_txn_per_s`` (the bare loop inside one transaction, the ceiling of any
  batching), ``raw_get_p50_ms`` (a bare peewee point lookup), ``row_bytes``.

Each figure is measured in both journal modes (``database.journal-mode``): unsuffixed for the
default ``wal``, suffixed ``_delete`` for ``delete``; ``delete_vs_wal_*`` are the ratios (of
``inserts_per_s``, ``ack_p50_ms``, ``raw_peewee_per_s``). ``--journal-mode`` measures one only.

Rounds of the sides alternate so machine noise hits all alike; medians are quoted.
Usage: ``python benchmarks/meta.py [--rows N] [--queries N] [--acks N] [--rounds N] [--journal-mode wal|delete|both]``
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pykka

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.keys import edge_defaults
from actors.meta import MetaActor
from actors.meta.store import MetaRow
from actors.protocol import Group, Module
from actors.testing import cloud_message, edged_message
from benchmarks.stand_ins import Sink
from kubeedge_actors import Message, ModuleActor, Router
from kubeedge_actors.sqlite import DELETE, JOURNAL_MODES, WAL, bind_model, open_database


def pod(index: int) -> dict[str, Any]:
    """A v1.Pod as the cloud pushes it: about 1 KB of JSON."""
    name = f"web-{index:05d}"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "default",
            "uid": f"6b1c0a2e-{index:04x}-11e9-8e5a-286ed488f209",
            "resourceVersion": str(100000 + index),
            "creationTimestamp": "2026-11-27T10:00:00Z",
            "labels": {"app": "web", "tier": "frontend", "release": "stable"},
            "annotations": {"kubernetes.io/config.seen": "2026-11-27T10:00:00.000000000Z"},
        },
        "spec": {
            "nodeName": "edge-node-1",
            "restartPolicy": "Always",
            "hostNetwork": True,
            "containers": [
                {
                    "name": "web",
                    "image": "nginx:1.25",
                    "imagePullPolicy": "IfNotPresent",
                    "args": ["--port", "8080"],
                    "env": [{"name": "MODE", "value": "edge"}, {"name": "INDEX", "value": str(index)}],
                    "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"limits": {"cpu": "200m", "memory": "128Mi"}, "requests": {"cpu": "100m", "memory": "64Mi"}},
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/web"}],
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                }
            ],
            "volumes": [{"name": "config", "configMap": {"name": "web-config", "defaultMode": 420}}],
        },
        "status": {"phase": "Pending", "qosClass": "Burstable"},
    }


def encoded(content: Any) -> str:
    return json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# --- the bare peewee baseline ----------------------------------------------------------------


def raw_peewee_rate(path: Path, rows: list[tuple[str, str]], journal_mode: str, *, one_transaction: bool = False) -> float:
    database = open_database(path, journal_mode)
    model = bind_model(database, MetaRow)
    database.create_tables([model], safe=True)
    started = time.perf_counter()
    if one_transaction:
        with database.atomic():
            for key, value in rows:
                model.insert(key=key, type="pod", value=value).on_conflict_ignore().execute()
    else:
        for key, value in rows:
            model.insert(key=key, type="pod", value=value).on_conflict_ignore().execute()
    elapsed = time.perf_counter() - started
    assert model.select().count() == len(rows)
    database.close()
    return len(rows) / elapsed


def raw_get_p50_ms(path: Path, keys: list[str], journal_mode: str) -> float:
    database = open_database(path, journal_mode)
    model = bind_model(database, MetaRow)
    samples = []
    for key in keys:
        started = time.perf_counter()
        model.select(model.value).where(model.key == key).tuples().first()
        samples.append(time.perf_counter() - started)
    database.close()
    return statistics.median(samples) * 1e3


# --- the started actor -----------------------------------------------------------------------


class Acks:
    """The "OK"s the hub stand-in took, counted; waited on by the benchmark's thread."""

    def __init__(self) -> None:
        self.count = 0
        self.condition = threading.Condition()

    def add(self) -> None:
        with self.condition:
            self.count += 1
            self.condition.notify_all()

    def wait_for(self, count: int, timeout_s: float = 300.0) -> None:
        with self.condition:
            if not self.condition.wait_for(lambda: self.count >= count, timeout_s):
                raise RuntimeError(f"meta acknowledged {self.count} of {count} inserts")


class AckHub(ModuleActor):
    """Stands in for the hub: counts the acks meta sends after each commit."""

    module_name = Module.HUB
    module_group = Group.HUB

    def __init__(self, router: Router, config: Any = None, *, acks: Acks, **kwargs: Any) -> None:
        super().__init__(router, config, **kwargs)
        self.acks = acks

    def handle_message(self, message: Message) -> None:
        self.acks.add()


@dataclass(frozen=True)
class ActorFigures:
    inserts_per_s: float
    query_p50_ms: float
    ack_p50_ms: float


def actor_figures(path: Path, messages: list[Message], query_keys: list[str], singles: list[Message], journal_mode: str) -> ActorFigures:
    router = Router()
    acks = Acks()
    router.register(Module.HUB, Group.HUB, AckHub.start(router, acks=acks))
    router.register(Module.EDGED, Group.EDGED, Sink.start(router, name=Module.EDGED, group=Group.EDGED))
    config = edge_defaults().with_values({"database.source": str(path), "database.journal-mode": journal_mode})
    router.register(Module.META, Group.META, MetaActor.start(router, config))
    router.send_sync(Module.META, edged_message("query", "default/pod/none"), 10).result()  # on_start has run

    started = time.perf_counter()
    for message in messages:
        router.send(Module.META, message)
    acks.wait_for(len(messages))
    elapsed = time.perf_counter() - started

    samples = []
    for key in query_keys:
        query = edged_message("query", key)
        started = time.perf_counter()
        answer = router.send_sync(Module.META, query, 10).result()
        samples.append(time.perf_counter() - started)
        assert len(answer.content) == 1

    ack_samples = []
    for number, message in enumerate(singles, start=len(messages) + 1):
        started = time.perf_counter()
        router.send(Module.META, message)
        acks.wait_for(number)
        ack_samples.append(time.perf_counter() - started)
    pykka.ActorRegistry.stop_all()
    router.close()
    with sqlite3.connect(path) as database:
        assert database.execute("SELECT count(*) FROM meta").fetchone()[0] == len(messages) + len(singles)
        assert database.execute("PRAGMA journal_mode").fetchone()[0] == journal_mode
    return ActorFigures(len(messages) / elapsed, statistics.median(samples) * 1e3, statistics.median(ack_samples) * 1e3)


@dataclass
class Figures:
    """One journal mode's samples, a value per round."""

    actor: list[float] = field(default_factory=list)
    raw: list[float] = field(default_factory=list)
    one_txn: list[float] = field(default_factory=list)
    query_p50: list[float] = field(default_factory=list)
    ack_p50: list[float] = field(default_factory=list)
    raw_get_p50: list[float] = field(default_factory=list)

    def line(self, suffix: str) -> dict[str, str]:
        actor, raw = statistics.median(self.actor), statistics.median(self.raw)
        figures = {
            "inserts_per_s": f"{actor:.0f}",
            "insert_vs_raw_peewee": f"{actor / raw:.2f}",
            "query_p50_ms": f"{statistics.median(self.query_p50):.3f}",
            "ack_p50_ms": f"{statistics.median(self.ack_p50):.3f}",
            "raw_peewee_per_s": f"{raw:.0f}",
            "raw_one_txn_per_s": f"{statistics.median(self.one_txn):.0f}",
            "raw_get_p50_ms": f"{statistics.median(self.raw_get_p50):.3f}",
        }
        return {f"{key}{suffix}": value for key, value in figures.items()}


def measure_round(folder: Path, mode: str, figures: Figures, *, pods: list[dict[str, Any]], keys: list[str], query_keys: list[str]) -> None:
    rows = [(key, encoded(p)) for key, p in zip(keys, pods, strict=True)]
    messages = [cloud_message("insert", key, p) for key, p in zip(keys, pods, strict=True)]
    singles = [cloud_message("insert", f"default/pod/single-{i}", pods[i % len(pods)]) for i in range(len(query_keys) // 4 or 1)]
    figures.raw.append(raw_peewee_rate(folder / f"{mode}.raw.db", rows, mode))
    actor = actor_figures(folder / f"{mode}.actor.db", messages, query_keys, singles, mode)
    figures.actor.append(actor.inserts_per_s)
    figures.query_p50.append(actor.query_p50_ms)
    figures.ack_p50.append(actor.ack_p50_ms)
    figures.one_txn.append(raw_peewee_rate(folder / f"{mode}.txn.db", rows, mode, one_transaction=True))
    figures.raw_get_p50.append(raw_get_p50_ms(folder / f"{mode}.raw.db", query_keys, mode))
    print(
        f"  {mode}: actor {actor.inserts_per_s:,.0f}/s raw peewee {figures.raw[-1]:,.0f}/s (one txn {figures.one_txn[-1]:,.0f}/s) "
        f"query p50 {actor.query_p50_ms:.3f} ms (raw get {figures.raw_get_p50[-1]:.3f} ms) ack p50 {actor.ack_p50_ms:.3f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--journal-mode", choices=[*JOURNAL_MODES, "both"], default="both")
    args = parser.parse_args()
    modes = list(JOURNAL_MODES) if args.journal_mode == "both" else [args.journal_mode]

    pods = [pod(i) for i in range(args.rows)]
    keys = [f"default/pod/{p['metadata']['name']}" for p in pods]
    query_keys = random.Random(7).choices(keys, k=args.queries)
    figures = {mode: Figures() for mode in modes}
    with tempfile.TemporaryDirectory(prefix="meta-bench-") as folder:
        for number in range(1, args.rounds + 1):
            print(f"round {number}:")
            for mode in modes if number % 2 else reversed(modes):  # alternate which mode goes first
                base = Path(folder) / f"round-{number}"
                base.mkdir(exist_ok=True)
                measure_round(base, mode, figures[mode], pods=pods, keys=keys, query_keys=query_keys)

    line = {key: value for mode in modes for key, value in figures[mode].line("" if mode == WAL else f"_{mode}").items()}
    if len(modes) == 2:
        wal, delete = figures[WAL], figures[DELETE]
        line["delete_vs_wal_inserts"] = f"{statistics.median(delete.actor) / statistics.median(wal.actor):.2f}"
        line["delete_vs_wal_ack_p50"] = f"{statistics.median(delete.ack_p50) / statistics.median(wal.ack_p50):.2f}"
        line["delete_vs_wal_raw"] = f"{statistics.median(delete.raw) / statistics.median(wal.raw):.3f}"
    line["row_bytes"] = str(len(encoded(pods[0])))
    print(" ".join(f"{key}={value}" for key, value in line.items()))


if __name__ == "__main__":
    main()
