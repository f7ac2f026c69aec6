"""An OPC-UA device to try the mapper with: asyncua's server on opc.tcp://127.0.0.1:4840.

    python examples/opcua_simulator.py                       # anonymous
    python examples/opcua_simulator.py --user operator:s3cr3t # username/password only

The valve of ``examples/manifests/opcua-valve.yaml``: ``ns=2;s=valve.flow`` (Double, read-only,
drifts toward the opening) and ``ns=2;s=valve.opening`` (Int32 percent, writable).
Needs ``pip install .[mappers]``. Tests use :class:`OpcuaSimulator` as their device.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from concurrent.futures import Future
from typing import Any

from asyncua import Server, ua
from asyncua.crypto.permission_rules import User, UserRole

NAMESPACE = "urn:kubeedge-actors:simulator"
#: node id → (initial value, variant type, writable)
VARIABLES: dict[str, tuple[Any, ua.VariantType, bool]] = {
    "valve.flow": (0.0, ua.VariantType.Double, False),
    "valve.opening": (0, ua.VariantType.Int32, True),
    "valve.label": ("closed", ua.VariantType.String, True),
}


class _Users:
    """Username/password only (no anonymous access)."""

    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def get_user(self, _iserver: Any, username: str | None = None, password: str | None = None, certificate: Any = None) -> User | None:
        if username is not None and self.users.get(username) == password:
            return User(role=UserRole.User, name=username)
        return None


class OpcuaSimulator:
    """An OPC-UA server on its own thread and event loop; values readable and settable from any thread.

    Args:
        port: TCP port on 127.0.0.1 (0: pick a free one).
        users: ``{name: password}``: only these may connect; None: anonymous.
    """

    def __init__(self, port: int = 4840, users: dict[str, str] | None = None) -> None:
        self.port, self.users = port, users
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Server | None = None
        self._nodes: dict[str, Any] = {}
        self._thread: threading.Thread | None = None
        self._done: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"opc.tcp://127.0.0.1:{self.port}"

    def start(self) -> OpcuaSimulator:
        started: Future[None] = Future()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._serve(started)), name="opcua-simulator", daemon=True)
        self._thread.start()
        started.result(timeout=30)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._done is not None:
            self._loop.call_soon_threadsafe(self._done.set)
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._loop = self._thread = self._done = None

    def __enter__(self) -> OpcuaSimulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def get(self, name: str) -> Any:
        return self._call(self._nodes[name].read_value())

    def set(self, name: str, value: Any) -> None:
        _, variant_type, _ = VARIABLES[name]
        self._call(self._nodes[name].write_value(ua.DataValue(ua.Variant(value, variant_type))))

    def _call(self, coroutine: Any) -> Any:
        assert self._loop is not None, "start() first"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    async def _serve(self, started: Future[None]) -> None:
        try:
            server = Server(user_manager=_Users(self.users) if self.users else None)
            await server.init()
            if self.port == 0:
                self.port = _free_port()
            server.set_endpoint(f"opc.tcp://127.0.0.1:{self.port}/")
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
            tokens = [ua.UserNameIdentityToken] if self.users else [ua.AnonymousIdentityToken]
            server.set_identity_tokens(tokens)
            index = await server.register_namespace(NAMESPACE)
            device = await server.nodes.objects.add_object(index, "valve")
            for name, (value, variant_type, writable) in VARIABLES.items():
                node = await device.add_variable(ua.NodeId(name, index), name, ua.Variant(value, variant_type))
                if writable:
                    await node.set_writable()
                self._nodes[name] = node
            self._server = server
            self._loop, self._done = asyncio.get_running_loop(), asyncio.Event()
            async with server:
                started.set_result(None)
                await self._done.wait()
        except BaseException as exc:
            if not started.done():
                started.set_exception(exc)
            raise


def _free_port() -> int:
    import socket  # noqa: PLC0415 - only for port 0

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _valve(simulator: OpcuaSimulator, stop: threading.Event) -> None:
    while not stop.wait(2.0):
        opening, flow = simulator.get("valve.opening"), simulator.get("valve.flow")
        flow = round(flow + (opening / 10.0 - flow) / 2, 2)
        simulator.set("valve.flow", flow)
        print(f"opening {opening}%  flow {flow} l/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=4840)
    parser.add_argument("--user", help="NAME:PASSWORD: only this user may connect")
    args = parser.parse_args()
    users = dict([args.user.split(":", 1)]) if args.user else None
    stop = threading.Event()
    with OpcuaSimulator(args.port, users) as simulator:
        print(f"valve on {simulator.url} (ns=2;s=valve.flow, ns=2;s=valve.opening); Ctrl-C stops it", flush=True)
        try:
            _valve(simulator, stop)
        except KeyboardInterrupt:
            stop.set()


if __name__ == "__main__":
    main()
