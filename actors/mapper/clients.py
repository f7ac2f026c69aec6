"""Protocol clients behind one adapter: connect, read a property as twin text, write twin text.

Library errors become :class:`DeviceIoError` here. pymodbus and asyncua are imported only when a
device of theirs is opened, so an edge without the ``mappers`` extra loads neither.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, ClassVar, Protocol

from actors.mapper.convert import modbus_decode, modbus_encode, parse_text, to_text
from actors.mapper.errors import DeviceIoError, UnsupportedProtocolError
from actors.mapper.profile import DevicePlan, PropertyPlan

logger = logging.getLogger(__name__)

_PARITY = {"none": "N", "even": "E", "odd": "O"}


class DeviceClient(Protocol):
    """One device, used from one worker thread."""

    def connect(self) -> None: ...

    def read(self, prop: PropertyPlan) -> str: ...

    def write(self, prop: PropertyPlan, text: str) -> None: ...

    def close(self) -> None: ...


def _quiet(library: str) -> None:
    """The libraries log every failed attempt; the mapper says once when a device goes offline
    and when it is back. A level the user configured for the library is left as it is."""
    library_logger = logging.getLogger(library)
    if library_logger.level == logging.NOTSET:
        library_logger.setLevel(logging.CRITICAL)


def open_client(plan: DevicePlan, timeout_s: float) -> DeviceClient:
    """The client of a device's protocol (not connected yet).

    Raises:
        UnsupportedProtocolError: Bluetooth (no BLE stack on this node).
    """
    if plan.protocol in ("modbus-tcp", "modbus-rtu"):
        return ModbusClient(plan, timeout_s)
    if plan.protocol == "opcua":
        return OpcuaClient(plan, timeout_s)
    raise UnsupportedProtocolError(
        f"device {plan.id}: this node has no Bluetooth support (protocol {plan.protocol}); the device is not served"
    )


# --- Modbus (pymodbus) ------------------------------------------------------------------------


class _SerialLine:
    """One RTU serial port shared by every device on it: one client, one request at a time."""

    _lines: ClassVar[dict[str, _SerialLine]] = {}
    _guard = threading.Lock()

    def __init__(self, client: Any) -> None:
        self.client, self.lock, self.users = client, threading.Lock(), 0

    @classmethod
    def take(cls, port: str, make: Any) -> _SerialLine:
        with cls._guard:
            line = cls._lines.get(port)
            if line is None:
                line = cls._lines[port] = _SerialLine(make())
            line.users += 1
            return line

    @classmethod
    def give_back(cls, port: str) -> None:
        with cls._guard:
            line = cls._lines.get(port)
            if line is not None:
                line.users -= 1
                if line.users <= 0:
                    line.client.close()
                    del cls._lines[port]


class ModbusClient:
    """Modbus TCP or RTU; one connection kept per device (v1.0 opened one per read), one line per
    serial port. The unit id is ``slaveID`` (a string in v1.0's TCP config, a number in RTU)."""

    def __init__(self, plan: DevicePlan, timeout_s: float) -> None:
        _quiet("pymodbus")
        self.plan, self.timeout_s = plan, timeout_s
        self.unit = int(str(plan.config.get("slaveID", 1)))
        self._client: Any = None
        self._line: _SerialLine | None = None
        self._lock = threading.Lock()

    def connect(self) -> None:
        from pymodbus.client import ModbusSerialClient, ModbusTcpClient  # noqa: PLC0415 - loaded with the first Modbus device
        from pymodbus.framer import FramerType  # noqa: PLC0415

        config = self.plan.config
        if self.plan.protocol == "modbus-rtu":
            port = str(config.get("serialPort"))
            if self._line is None:
                self._line = _SerialLine.take(
                    port,
                    lambda: ModbusSerialClient(
                        port,
                        framer=FramerType.RTU,
                        baudrate=int(config.get("baudRate", 9600)),
                        bytesize=int(config.get("dataBits", 8)),
                        parity=_PARITY.get(str(config.get("parity", "none")), "N"),
                        stopbits=int(config.get("stopBits", 1)),
                        timeout=self.timeout_s,
                        retries=0,
                    ),
                )
            self._client, self._lock = self._line.client, self._line.lock
        elif self._client is None:
            self._client = ModbusTcpClient(
                str(config.get("ip")), port=int(config.get("port", 502)), timeout=self.timeout_s, retries=0, reconnect_delay=0
            )
        with self._lock:
            if not self._client.connected and not self._client.connect():
                where = config.get("serialPort") or f"{config.get('ip')}:{config.get('port')}"
                raise DeviceIoError(f"device {self.plan.id}: cannot connect to {where}")

    def read(self, prop: PropertyPlan) -> str:
        register, offset, limit = prop.visitor["register"], int(prop.visitor["offset"]), int(prop.visitor["limit"])
        call = {
            "CoilRegister": "read_coils",
            "DiscreteInputRegister": "read_discrete_inputs",
            "HoldingRegister": "read_holding_registers",
            "InputRegister": "read_input_registers",
        }[register]
        response = self._call(call, offset, count=limit)
        raw = response.bits[:limit] if register in ("CoilRegister", "DiscreteInputRegister") else response.registers
        return modbus_decode(raw, prop)

    def write(self, prop: PropertyPlan, text: str) -> None:
        values = modbus_encode(text, prop)
        call = "write_coils" if prop.visitor["register"] == "CoilRegister" else "write_registers"
        self._call(call, int(prop.visitor["offset"]), values)

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        from pymodbus.exceptions import ModbusException  # noqa: PLC0415

        if self._client is None:
            raise DeviceIoError(f"device {self.plan.id}: not connected")
        try:
            with self._lock:
                response = getattr(self._client, name)(*args, device_id=self.unit, **kwargs)
        except (ModbusException, OSError) as exc:
            raise DeviceIoError(f"device {self.plan.id}: {name}: {exc}") from exc
        if response.isError():
            raise DeviceIoError(f"device {self.plan.id}: {name} refused: {response}")
        return response

    def close(self) -> None:
        if self._line is not None:
            _SerialLine.give_back(str(self.plan.config.get("serialPort")))
            self._line = None
        elif self._client is not None:
            self._client.close()
        self._client = None


# --- OPC-UA (asyncua) -------------------------------------------------------------------------


def node_id_text(node_id: str) -> str:
    """KubeEdge's samples write ``ns=1,i=1005``; OPC-UA's text form is ``ns=1;i=1005``."""
    return node_id if ";" in node_id else node_id.replace(",", ";", 1)


class OpcuaClient:
    """OPC-UA by node id; anonymous, or ``userName``/``password`` from the protocol config.

    With ``subscription: true`` in the protocol config (ours), :meth:`subscribe` asks the server
    to report changes instead of being polled.
    """

    def __init__(self, plan: DevicePlan, timeout_s: float) -> None:
        _quiet("asyncua")
        self.plan, self.timeout_s = plan, timeout_s
        self._client: Any = None
        self._types: dict[str, Any] = {}
        self._subscription: Any = None

    @property
    def wants_subscription(self) -> bool:
        return bool(self.plan.config.get("subscription"))

    def connect(self) -> None:
        from asyncua.sync import Client  # noqa: PLC0415 - loaded with the first OPC-UA device

        self.close()
        config = self.plan.config
        client = Client(str(config["url"]), timeout=float(config.get("timeout") or self.timeout_s))
        if config.get("userName"):
            client.set_user(str(config["userName"]))
            client.set_password(str(config.get("password", "")))
        try:
            client.connect()
        except Exception as exc:  # asyncua raises OSError, TimeoutError and its own UaErrors
            _close_quietly(client)
            raise DeviceIoError(f"device {self.plan.id}: cannot connect to {config['url']}: {exc or type(exc).__name__}") from exc
        self._client = client

    def read(self, prop: PropertyPlan) -> str:
        value = self._do(prop, lambda node: node.read_value())
        return to_text(value, prop)

    def write(self, prop: PropertyPlan, text: str) -> None:
        from asyncua import ua  # noqa: PLC0415

        value = parse_text(text, prop)

        def write(node: Any) -> None:
            key = prop.visitor["nodeID"]
            if key not in self._types:
                self._types[key] = node.read_data_type_as_variant_type()
            variant_type = self._types[key]
            typed = float(value) if variant_type in (ua.VariantType.Float, ua.VariantType.Double) else value
            node.write_value(ua.DataValue(ua.Variant(typed, variant_type)))

        self._do(prop, write)

    def subscribe(self, props: tuple[PropertyPlan, ...], interval_s: float, changed: Any) -> None:
        """Call ``changed(prop, text)`` on asyncua's thread for each change the server reports."""
        client = self._client
        if client is None:
            raise DeviceIoError(f"device {self.plan.id}: not connected")
        by_node: dict[str, PropertyPlan] = {}

        class Handler:
            def datachange_notification(self, node: Any, value: Any, _data: Any) -> None:
                prop = by_node.get(node.nodeid.to_string())
                if prop is not None:
                    changed(prop, value)

        try:
            self._subscription = client.create_subscription(interval_s * 1000, Handler())
            for prop in props:
                node = client.get_node(node_id_text(prop.visitor["nodeID"]))
                by_node[node.nodeid.to_string()] = prop
                self._subscription.subscribe_data_change(node)
        except Exception as exc:  # asyncua's errors, converted
            raise DeviceIoError(f"device {self.plan.id}: subscription: {exc}") from exc

    def check(self) -> None:
        """Raises :class:`DeviceIoError` when the connection to the server is lost."""
        if self._client is None:
            raise DeviceIoError(f"device {self.plan.id}: not connected")
        try:
            self._client.check_connection()
        except Exception as exc:  # asyncua's errors, converted
            raise DeviceIoError(f"device {self.plan.id}: lost the server: {exc or type(exc).__name__}") from exc

    def _do(self, prop: PropertyPlan, action: Any) -> Any:
        if self._client is None:
            raise DeviceIoError(f"device {self.plan.id}: not connected")
        try:
            return action(self._client.get_node(node_id_text(prop.visitor["nodeID"])))
        except Exception as exc:  # asyncua's errors, converted
            raise DeviceIoError(f"device {self.plan.id}: {prop.name} ({prop.visitor['nodeID']}): {exc or type(exc).__name__}") from exc

    def close(self) -> None:
        client, self._client, self._subscription = self._client, None, None
        if client is not None:
            _close_quietly(client)


def _close_quietly(client: Any) -> None:
    try:
        client.disconnect()  # stops the client's own event loop thread, also when this fails
    except Exception as exc:  # closing a link that may be dead already
        logger.debug("mapper: closing an OPC-UA client: %s", exc)


__all__ = ["DeviceClient", "ModbusClient", "OpcuaClient", "node_id_text", "open_client"]
