"""httpGet and tcpSocket probes on one asyncio loop of their own (docs/protocol.md#7.8).

Apart from ``probes.py`` so that an edge whose pods have no network probe never loads asyncio:
:class:`~actors.edged.probes.Prober` creates the loop on the first such probe.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future

from actors.edged.podspec_lifecycle import Handler
from actors.edged.probes import USER_AGENT, ProbeOutcome, _http_outcome, _insecure_context


class NetworkProbeLoop:
    """One thread running one asyncio loop: any number of network probes at once."""

    def __init__(self, thread_name: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=_run_loop, args=(self._loop,), name=thread_name, daemon=True)
        self._thread.start()

    def submit(self, handler: Handler, host: str, timeout_s: float) -> Future[ProbeOutcome]:
        return asyncio.run_coroutine_threadsafe(run_network_handler(handler, host, timeout_s), self._loop)

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=2.0)


async def run_network_handler(handler: Handler, host: str, timeout_s: float) -> ProbeOutcome:
    """An httpGet or tcpSocket probe on the prober's asyncio loop."""
    target = handler.host or host or "127.0.0.1"
    try:
        return await asyncio.wait_for(_network(handler, target), timeout_s)
    except TimeoutError:
        return ProbeOutcome(False, f"{handler.describe()}: timed out after {timeout_s:g}s")
    except (OSError, ValueError) as exc:
        return ProbeOutcome(False, f"{handler.describe()}: {exc or type(exc).__name__}")


async def _network(handler: Handler, target: str) -> ProbeOutcome:
    ssl_context = _insecure_context() if handler.scheme == "HTTPS" and handler.kind == "httpGet" else None
    reader, writer = await asyncio.open_connection(target, handler.port, ssl=ssl_context)
    try:
        if handler.kind == "tcpSocket":
            return ProbeOutcome(True)
        headers = {"Host": f"{target}:{handler.port}", "User-Agent": USER_AGENT, "Accept": "*/*", "Connection": "close"}
        headers.update(dict(handler.headers))
        request = f"GET {handler.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(request.encode("latin-1"))
        await writer.drain()
        status_line = (await reader.readline()).decode("latin-1").split()
        if len(status_line) < 2 or not status_line[1].isdigit():
            return ProbeOutcome(False, f"{handler.describe()}: not an HTTP answer")
        return _http_outcome(handler, int(status_line[1]))
    finally:
        writer.close()


def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
    asyncio.set_event_loop(loop)
    try:
        loop.run_forever()
    finally:  # probes still under way end as cancelled (their results go nowhere: edged stopped)
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        if pending:
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()


__all__ = ["NetworkProbeLoop", "run_network_handler"]
