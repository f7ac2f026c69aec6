"""The parts of a container spec about its life: probes and lifecycle hooks (docs/protocol.md#7.8).

Read with Kubernetes' defaults (``initialDelaySeconds`` 0, ``periodSeconds`` 10,
``timeoutSeconds`` 1, ``successThreshold`` 1, ``failureThreshold`` 3); a bad field is a
:class:`SpecError` naming it, which the container reports as its problem. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from actors.edged.errors import SpecError
from actors.edged.podparts import read_dict, read_list, read_opt_strings

PROBE_KINDS = ("startupProbe", "livenessProbe", "readinessProbe")


@dataclass(frozen=True, slots=True)
class Handler:
    """What a probe or a hook does: run a command, GET a URL, or open a TCP connection.

    ``port`` is a number; a named port is resolved against the container's ``ports``.
    ``host`` "" is the pod's address (the host's: host networking).
    """

    kind: str  # "exec", "httpGet" or "tcpSocket"
    command: tuple[str, ...] = ()
    port: int = 0
    path: str = "/"
    host: str = ""
    scheme: str = "HTTP"
    headers: tuple[tuple[str, str], ...] = ()

    def describe(self) -> str:
        if self.kind == "exec":
            return f"exec {list(self.command)}"
        if self.kind == "httpGet":
            return f"{self.scheme.lower()}-get :{self.port}{self.path}"
        return f"tcp-socket :{self.port}"


@dataclass(frozen=True, slots=True)
class Probe:
    handler: Handler
    initial_delay_s: float = 0.0
    period_s: float = 10.0
    timeout_s: float = 1.0
    success_threshold: int = 1
    failure_threshold: int = 3


@dataclass(frozen=True, slots=True)
class ContainerLifecycle:
    """A container's probes and hooks; all None when the spec has none."""

    liveness: Probe | None = None
    readiness: Probe | None = None
    startup: Probe | None = None
    post_start: Handler | None = None
    pre_stop: Handler | None = None

    @property
    def probed(self) -> bool:
        return self.liveness is not None or self.readiness is not None or self.startup is not None


NO_LIFECYCLE = ContainerLifecycle()


def parse_lifecycle(raw: Mapping[str, Any], where: str) -> ContainerLifecycle:
    """The probes and hooks of container ``raw`` (at ``where``, e.g. ``spec.containers[0]``)."""
    ports = _named_ports(raw, where)
    probes = {kind: _probe(raw, kind, where, ports) for kind in PROBE_KINDS}
    hooks = read_dict(dict(raw), "lifecycle", where)
    post_start, pre_stop = (_hook(hooks, name, where, ports) for name in ("postStart", "preStop"))
    if probes["readinessProbe"] is None and probes["livenessProbe"] is None and probes["startupProbe"] is None and not hooks:
        return NO_LIFECYCLE
    return ContainerLifecycle(probes["livenessProbe"], probes["readinessProbe"], probes["startupProbe"], post_start, pre_stop)


def _hook(hooks: dict[str, Any], name: str, where: str, ports: Mapping[str, int]) -> Handler | None:
    return _handler(hooks[name], f"{where}.lifecycle.{name}", ports) if hooks.get(name) is not None else None


def _probe(raw: Mapping[str, Any], kind: str, where: str, ports: Mapping[str, int]) -> Probe | None:
    spec = raw.get(kind)
    if spec is None:
        return None
    where = f"{where}.{kind}"
    if not isinstance(spec, dict):
        raise SpecError(f"{where}: must be an object")
    success = _count(spec, "successThreshold", 1, where)
    if kind != "readinessProbe" and success != 1:  # Kubernetes' validation says the same
        raise SpecError(f"{where}.successThreshold: must be 1 for a {kind}")
    return Probe(
        _handler(spec, where, ports),
        initial_delay_s=_seconds(spec, "initialDelaySeconds", 0, where, minimum=0),
        period_s=_seconds(spec, "periodSeconds", 10, where, minimum=1),
        timeout_s=_seconds(spec, "timeoutSeconds", 1, where, minimum=1),
        success_threshold=success,
        failure_threshold=_count(spec, "failureThreshold", 3, where),
    )


def _handler(spec: Any, where: str, ports: Mapping[str, int]) -> Handler:
    if not isinstance(spec, dict):
        raise SpecError(f"{where}: must be an object")
    kinds = [k for k in ("exec", "httpGet", "tcpSocket", "grpc") if spec.get(k) is not None]
    if len(kinds) != 1:
        raise SpecError(f"{where}: needs exactly one of exec, httpGet, tcpSocket, got {kinds or 'none'}")
    kind = kinds[0]
    body = spec[kind]
    if kind == "grpc":
        raise SpecError(f"{where}.grpc: is not supported (edged supports exec, httpGet, tcpSocket)")
    if not isinstance(body, dict):
        raise SpecError(f"{where}.{kind}: must be an object")
    if kind == "exec":
        command = read_opt_strings(body, "command", f"{where}.exec")
        if not command:
            raise SpecError(f"{where}.exec.command: needs a command")
        return Handler("exec", command=command)
    port = _port(body.get("port"), f"{where}.{kind}.port", ports)
    host = body.get("host") or ""
    if not isinstance(host, str):
        raise SpecError(f"{where}.{kind}.host: must be a string")
    if kind == "tcpSocket":
        return Handler("tcpSocket", port=port, host=host)
    path = body.get("path") or "/"
    scheme = str(body.get("scheme") or "HTTP").upper()
    if not isinstance(path, str) or scheme not in ("HTTP", "HTTPS"):
        raise SpecError(f"{where}.httpGet: path must be a string and scheme HTTP or HTTPS")
    headers = tuple(
        (str(h.get("name")), str(h.get("value", "")))
        for h in read_list(body, "httpHeaders", f"{where}.httpGet")
        if isinstance(h, dict) and h.get("name")
    )
    return Handler("httpGet", port=port, path=path if path.startswith("/") else f"/{path}", host=host, scheme=scheme, headers=headers)


def _port(value: Any, where: str, ports: Mapping[str, int]) -> int:
    if isinstance(value, str) and not value.isdigit():
        if value not in ports:
            raise SpecError(f"{where}: no container port named {value!r}")
        return ports[value]
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise SpecError(f"{where}: must be a port number or a port name, not {value!r}") from None
    if not 0 < port < 65536:
        raise SpecError(f"{where}: {port} is not a port number")
    return port


def _named_ports(raw: Mapping[str, Any], where: str) -> dict[str, int]:
    return {
        str(p["name"]): int(p["containerPort"])
        for p in read_list(dict(raw), "ports", where)
        if isinstance(p, dict) and p.get("name") and isinstance(p.get("containerPort"), int)
    }


def _seconds(spec: dict[str, Any], key: str, default: int, where: str, *, minimum: int) -> float:
    value = spec.get(key)
    if value is None or (value == 0 and minimum > 0):  # 0 is Go's "not set": the default
        return float(default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise SpecError(f"{where}.{key}: must be a whole number of seconds ≥ {minimum}, not {value!r}")
    return float(value)


def _count(spec: dict[str, Any], key: str, default: int, where: str) -> int:
    value = spec.get(key)
    if value is None or value == 0:
        return default
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise SpecError(f"{where}.{key}: must be a whole number ≥ 1, not {value!r}")
    return value


__all__ = ["NO_LIFECYCLE", "PROBE_KINDS", "ContainerLifecycle", "Handler", "Probe", "parse_lifecycle"]
