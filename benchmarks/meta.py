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
- extra: ``raw_one_txn_per_s`` (the bare loop inside one transaction, the ceiling of any
  batching), ``raw_get_p50_ms`` (a bare peewee point lookup), ``row_bytes``.

Rounds of the two sides alternate so machine noise hits both alike; medians are quoted.
Usage: ``python benchmarks/meta.py [--rows N] [--queries N] [--rounds N]``
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
from pathlib import Path
from typing import Any

import pykka

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors.meta import MetaActor
from actors.meta.store import MetaRow
from benchmarks.stand_ins import Counter, Sink
from kubeedge_actors import Config, Message, Router
from kubeedge_actors.sqlite import bind_model, open_database
from kubeedge_actors.testing import cloud_message, edged_message
from kubeedge_actors.wire import Group, Module


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


def raw_peewee_rate(path: Path, rows: list[tuple[str, str]], *, one_transaction: bool = False) -> float:
    database = open_database(path)
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


def raw_get_p50_ms(path: Path, keys: list[str]) -> float:
    database = open_database(path)
    model = bind_model(database, MetaRow)
    samples = []
    for key in keys:
        started = time.perf_counter()
        model.select(model.value).where(model.key == key).tuples().first()
        samples.append(time.perf_counter() - started)
    database.close()
    return statistics.median(samples) * 1e3


# --- the started actor -----------------------------------------------------------------------


def actor_rate_and_query_p50(path: Path, messages: list[Message], query_keys: list[str]) -> tuple[float, float]:
    router = Router()
    done = threading.Event()
    # The hub counts the "OK" acks meta sends after each commit; edged takes the forwarded pods.
    router.register(Module.HUB, Group.HUB, Counter.start(router, name=Module.HUB, group=Group.HUB, expected=len(messages), done=done))
    router.register(Module.EDGED, Group.EDGED, Sink.start(router, name=Module.EDGED, group=Group.EDGED))
    config = Config.defaults().with_values({"database.source": str(path)})
    router.register(Module.META, Group.META, MetaActor.start(router, config))
    router.send_sync(Module.META, edged_message("query", "default/pod/none"), 10).result()  # on_start has run

    started = time.perf_counter()
    for message in messages:
        router.send(Module.META, message)
    if not done.wait(300):
        raise RuntimeError("meta did not acknowledge every insert")
    elapsed = time.perf_counter() - started

    samples = []
    for key in query_keys:
        query = edged_message("query", key)
        started = time.perf_counter()
        answer = router.send_sync(Module.META, query, 10).result()
        samples.append(time.perf_counter() - started)
        assert len(answer.content) == 1
    pykka.ActorRegistry.stop_all()
    router.close()
    with sqlite3.connect(path) as database:
        assert database.execute("SELECT count(*) FROM meta").fetchone()[0] == len(messages)
    return len(messages) / elapsed, statistics.median(samples) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    pods = [pod(i) for i in range(args.rows)]
    keys = [f"default/pod/{p['metadata']['name']}" for p in pods]
    rows = [(key, encoded(p)) for key, p in zip(keys, pods, strict=True)]
    query_keys = random.Random(7).choices(keys, k=args.queries)
    raw_rates, txn_rates, actor_rates, query_p50s, raw_get_p50s = [], [], [], [], []
    with tempfile.TemporaryDirectory(prefix="meta-bench-") as folder:
        for number in range(1, args.rounds + 1):
            base = Path(folder) / f"round-{number}"
            messages = [cloud_message("insert", key, p) for key, p in zip(keys, pods, strict=True)]
            raw_rates.append(raw_peewee_rate(base.with_suffix(".raw.db"), rows))
            actor_rate, query_p50 = actor_rate_and_query_p50(base.with_suffix(".actor.db"), messages, query_keys)
            actor_rates.append(actor_rate)
            query_p50s.append(query_p50)
            txn_rates.append(raw_peewee_rate(base.with_suffix(".txn.db"), rows, one_transaction=True))
            raw_get_p50s.append(raw_get_p50_ms(base.with_suffix(".raw.db"), query_keys))
            print(
                f"round {number}: actor {actor_rate:,.0f}/s raw peewee {raw_rates[-1]:,.0f}/s "
                f"(one txn {txn_rates[-1]:,.0f}/s) query p50 {query_p50:.3f} ms (raw get {raw_get_p50s[-1]:.3f} ms)"
            )

    actor, raw = statistics.median(actor_rates), statistics.median(raw_rates)
    print(
        f"inserts_per_s={actor:.0f} insert_vs_raw_peewee={actor / raw:.2f} query_p50_ms={statistics.median(query_p50s):.3f} "
        f"raw_peewee_per_s={raw:.0f} raw_one_txn_per_s={statistics.median(txn_rates):.0f} "
        f"raw_get_p50_ms={statistics.median(raw_get_p50s):.3f} row_bytes={len(rows[0][1])}"
    )


if __name__ == "__main__":
    main()
