"""``python -m kubeedge_actors mapper --profile deviceProfile.json``: the mapper as its own
process (or a pod's), without the edge's runtime: it reads the file, serves its devices and
stops on SIGINT or SIGTERM."""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType

from actors.mapper.engine import Engine
from actors.mapper.errors import MapperError
from actors.mapper.mqtt import MqttLink
from actors.mapper.settings import MapperSettings
from actors.mapper.source import ProfileFile
from kubeedge_actors.config import Config

logger = logging.getLogger(__name__)


def run_mapper(config: Config, profile: Path, broker: str | None = None) -> int:
    """Serve ``profile`` until a stop signal; 0 then, 2 when the broker address is unusable."""
    settings = MapperSettings.from_config(config)
    try:
        link = MqttLink(broker or settings.broker, f"mapper-{settings.node_id}-{profile.name}", settings.engine.retry_max_s)
    except MapperError as error:
        print(f"kubeedge-actors mapper: {error}", flush=True)
        return 2
    engine = Engine(link, settings.engine)
    watcher = ProfileFile(profile, settings.profile_interval_s, engine.apply)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        logger.info("mapper: signal %d; stopping", signum)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, on_signal)
    link.start(engine)
    watcher.start()
    logger.info("mapper: serving %s through the broker %s:%d", profile, link.host, link.port)
    stop.wait()
    watcher.stop()
    engine.stop()
    link.stop()
    return 0


__all__ = ["run_mapper"]
