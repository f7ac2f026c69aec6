"""Embed the edge core in your own program, with a module of your own beside the built-in ones.

Run from the repository root: ``python examples/embed_uptime.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from actors import builtin_modules
from actors.keys import EDGE_KEYS, edge_defaults
from examples.uptime_actor import UptimeActor
from kubeedge_actors import Message, ModuleSpec, Runtime, load_config


def main() -> None:
    conf = Path("conf")
    config = load_config(conf, EDGE_KEYS) if conf.is_dir() else edge_defaults()
    with Runtime(config, builtin_modules()) as runtime:
        runtime.add_module(ModuleSpec(UptimeActor))
        query = Message.new(source="me", group="user", operation="query", resource="default/uptime")
        reply = runtime.router.send_sync("uptime", query).result(timeout=5)
        print(f"modules: {', '.join(runtime.running_modules())}; uptime reply: {reply.content}")


if __name__ == "__main__":
    main()
