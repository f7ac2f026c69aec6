"""A Modbus TCP (or RTU) device to try the mapper with: pymodbus's server on 127.0.0.1:5020.

    python examples/modbus_simulator.py                 # a thermostat on tcp 127.0.0.1:5020
    python examples/modbus_simulator.py --port 5021
    python examples/modbus_simulator.py --serial /dev/pts/7   # RTU on a serial port

The thermostat of ``examples/manifests/modbus-thermostat.yaml``: input register 0 is the
temperature in tenths of a degree (it drifts by a tenth every 2 s), holding register 1 the
target in tenths (the mapper writes it), coil 0 the heater (on while below the target).
Needs ``pip install .[mappers]``. Tests use :class:`ModbusSimulator` as their device.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
from concurrent.futures import Future
from typing import Any

from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

#: The four tables a Modbus device has, by the function code that reads each.
READ_CODES = {"coil": 1, "discrete": 2, "holding": 3, "input": 4}
SIZE = 200


class ModbusSimulator:
    """A Modbus server on its own thread and event loop, with its registers readable and
    settable from any thread (also the read-only tables, as the device itself changes them).

    Args:
        port: TCP port on 127.0.0.1 (0 with ``serial``).
        serial: a serial port to serve RTU on instead of TCP.
    """

    def __init__(self, port: int = 5020, serial: str | None = None, baudrate: int = 9600) -> None:
        self.port, self.serial, self.baudrate = port, serial, baudrate
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> ModbusSimulator:
        started: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, args=(started,), name="modbus-simulator", daemon=True)
        self._thread.start()
        started.result(timeout=10)
        return self

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            asyncio.run_coroutine_threadsafe(self._server.shutdown(), self._loop).result(timeout=10)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop = self._server = self._thread = None

    def __enter__(self) -> ModbusSimulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def get(self, table: str, address: int, count: int = 1) -> list[int] | list[bool]:
        """Values of ``table`` (coil, discrete, holding, input) from ``address``."""
        values = self._call(self._server.context.async_getValues(0, READ_CODES[table], address, count))
        return list(values)

    def set(self, table: str, address: int, values: list[int] | list[bool]) -> None:
        """Set values as the device itself would (read-only tables too)."""
        self._call(self._server.context.async_setValues(0, READ_CODES[table], address, list(values)))

    def _call(self, coroutine: Any) -> Any:
        assert self._loop is not None, "start() first"
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=10)

    def _run(self, started: Future[None]) -> None:
        asyncio.run(self._serve(started))

    async def _serve(self, started: Future[None]) -> None:
        self._loop = asyncio.get_running_loop()
        device = SimDevice(
            id=0,
            simdata=(
                [SimData(0, count=SIZE, values=False, datatype=DataType.BITS)],
                [SimData(0, count=SIZE, values=False, datatype=DataType.BITS)],
                [SimData(0, count=SIZE, values=0, datatype=DataType.REGISTERS)],
                [SimData(0, count=SIZE, values=0, datatype=DataType.REGISTERS)],
            ),
        )
        try:
            if self.serial:
                self._server = ModbusSerialServer(device, port=self.serial, baudrate=self.baudrate)
            else:
                self._server = ModbusTcpServer(device, address=("127.0.0.1", self.port))
            await self._server.serve_forever(background=True)
            if not self.serial and self.port == 0:
                self.port = self._server.transport.sockets[0].getsockname()[1]
        except BaseException as exc:
            started.set_exception(exc)
            raise
        started.set_result(None)
        await self._server.serving


def _thermostat(simulator: ModbusSimulator, stop: threading.Event) -> None:
    while not stop.wait(2.0):
        temperature, target = simulator.get("input", 0)[0], simulator.get("holding", 1)[0]
        heating = temperature < target
        simulator.set("coil", 0, [heating])
        simulator.set("input", 0, [temperature + (1 if heating else -1)])
        print(f"temperature {temperature / 10:.1f}  target {target / 10:.1f}  heater {'on' if heating else 'off'}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=5020)
    parser.add_argument("--serial", help="serve RTU on this serial port instead of TCP")
    args = parser.parse_args()
    stop = threading.Event()
    with ModbusSimulator(args.port, args.serial) as simulator:
        simulator.set("input", 0, [205])  # set before the line below: who reads that line may read these
        simulator.set("holding", 1, [215])
        print(f"thermostat on {args.serial or f'tcp 127.0.0.1:{simulator.port}'}; Ctrl-C stops it", flush=True)
        try:
            _thermostat(simulator, stop)
        except KeyboardInterrupt:
            stop.set()


if __name__ == "__main__":
    main()
