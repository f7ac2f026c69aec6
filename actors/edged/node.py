"""The node's status (docs/protocol.md#7.5): host facts read from the system, and the body sent to meta."""

from __future__ import annotations

import fcntl
import os
import platform
import socket
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from actors.edged.errors import RuntimeUnavailableError
from actors.edged.model import ContainerRuntime

#: docs/protocol.md#7.5: the original reports this constant as the node's UID; the cloud ignores it.
NODE_UID = "38796d14-1df3-11e8-8e5a-286ed488f209"
MAX_PODS = "110"
_GOARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "armv6l": "arm", "i686": "386", "ppc64le": "ppc64le", "s390x": "s390x"}


@dataclass(frozen=True)
class HostFacts:
    cpu_count: int
    memory_mib: int
    kernel: str
    os_image: str
    architecture: str
    hostname: str
    machine_id: str
    boot_id: str
    system_uuid: str
    ip: str


@dataclass(frozen=True)
class NodeReading:
    """What a node status needs from the host and Docker, read on a worker."""

    facts: HostFacts
    docker_version: str | None  # None: Docker did not answer
    docker_error: str = ""


def read_node(runtime: ContainerRuntime, interface: str) -> NodeReading:
    """The host's facts, and Docker's version or why it did not answer (blocking)."""
    facts = read_host_facts(interface)
    try:
        return NodeReading(facts, runtime.version())
    except RuntimeUnavailableError as exc:
        return NodeReading(facts, None, str(exc))


def interface_ipv4(interface: str) -> str:
    """The first IPv4 address of ``interface``, or of the interface of the default route, or
    127.0.0.1 (docs/protocol.md#7.5: hostIP is the address of ``edged.interface-name``)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            packed = fcntl.ioctl(sock.fileno(), 0x8915, struct.pack("256s", interface[:15].encode()))  # SIOCGIFADDR
            return socket.inet_ntoa(packed[20:24])
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect(("192.0.2.1", 9))  # TEST-NET: no packet is sent, only a route is chosen
            return str(sock.getsockname()[0])
    except OSError:
        return "127.0.0.1"


def read_host_facts(interface: str) -> HostFacts:
    """Read what the node status reports about this machine (blocking file reads)."""
    return HostFacts(
        cpu_count=os.cpu_count() or 1,
        memory_mib=_mem_total_kib() // 1024,
        kernel=platform.release(),
        os_image=_os_release().get("PRETTY_NAME", "Linux"),
        architecture=_GOARCH.get(platform.machine(), platform.machine()),
        hostname=socket.gethostname(),
        machine_id=_read("/etc/machine-id"),
        boot_id=_read("/proc/sys/kernel/random/boot_id"),
        system_uuid=_read("/sys/class/dmi/id/product_uuid"),
        ip=interface_ipv4(interface),
    )


def node_status_body(
    facts: HostFacts,
    *,
    docker_version: str | None,
    docker_error: str,
    kubelet_version: str,
    server_port: int,
    now: str,
    previous: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """``{"UID", "Status": v1.NodeStatus, "ExtendResources": null}`` (docs/protocol.md#7.5)."""
    ready = docker_version is not None
    condition = {
        "type": "Ready",
        "status": "True" if ready else "False",
        "lastHeartbeatTime": now,
        "lastTransitionTime": now,
        "reason": "EdgeReady" if ready else "EdgeNotReady",
        "message": "edge is posting ready status" if ready else docker_error,
    }
    earlier = next((c for c in (previous or {}).get("Status", {}).get("conditions", []) if c.get("type") == "Ready"), None)
    if earlier is not None and earlier.get("status") == condition["status"]:
        condition["lastTransitionTime"] = earlier.get("lastTransitionTime", now)
    capacity = {"cpu": str(facts.cpu_count), "memory": f"{facts.memory_mib}Mi", "pods": MAX_PODS}
    allocatable = {"cpu": str(facts.cpu_count), "memory": f"{max(facts.memory_mib - 100, 0)}Mi", "pods": MAX_PODS}
    status = {
        "capacity": capacity,
        "allocatable": allocatable,
        "phase": "Running",
        "conditions": [condition],
        "addresses": [{"type": "InternalIP", "address": facts.ip}, {"type": "Hostname", "address": facts.hostname}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": server_port}},
        "nodeInfo": {
            "machineID": facts.machine_id,
            "systemUUID": facts.system_uuid,
            "bootID": facts.boot_id,
            "kernelVersion": facts.kernel,
            "osImage": facts.os_image,
            # docs/protocol.md#13.5: the original sent the kernel version here.
            "containerRuntimeVersion": f"docker://{docker_version}" if docker_version else "",
            "kubeletVersion": kubelet_version,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": facts.architecture,
        },
    }
    return {"UID": NODE_UID, "Status": status, "ExtendResources": None}


def _mem_total_kib() -> int:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


def _os_release() -> dict[str, str]:
    values = {}
    for line in _read("/etc/os-release").splitlines():
        key, _, value = line.partition("=")
        if key:
            values[key] = value.strip().strip('"')
    return values


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


__all__ = ["NODE_UID", "HostFacts", "NodeReading", "interface_ipv4", "node_status_body", "read_host_facts", "read_node"]
