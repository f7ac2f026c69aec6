"""``/api/v1/namespaces/<ns>/pods/<name>/exec``: ``kubectl exec`` without stdin, over the
websocket channel protocol kubectl speaks first (``v5.channel.k8s.io``, ``v4.channel.k8s.io``;
docs/protocol.md#12.4), through the cloud side's stream module (docs/protocol.md#9.5).

Each binary message is one channel byte (1 stdout, 2 stderr, 3 the final ``Status``) and the
data. The command's input is not forwarded (``kubectl exec -i`` gets an end of input at once).
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from actors.protocol import StreamKind
from kubeedge_cloud.kube.errors import bad_request
from kubeedge_cloud.kube.store import Obj
from kubeedge_cloud.streams import StreamSpec

SUBPROTOCOLS = ("v5.channel.k8s.io", "v4.channel.k8s.io")
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455 section 1.3
STDOUT, STDERR, ERROR = 1, 2, 3
_CHANNELS = {"stdout": STDOUT, "stderr": STDERR}


def accept_key(key: str) -> str:
    """RFC 6455's Sec-WebSocket-Accept for the client's Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + _GUID).encode()).digest()).decode()


def choose_subprotocol(offered: str) -> str | None:
    wanted = [p.strip() for p in offered.split(",")]
    return next((p for p in SUBPROTOCOLS if p in wanted), None)


def exec_spec(pod: Obj, commands: list[str], container: str) -> StreamSpec:
    """The stream for ``command`` (each ``command`` query parameter one argument).

    Raises:
        KubeApiError: 400 without a command or for a pod without a node.
    """
    meta = pod["metadata"]
    node = pod.get("spec", {}).get("nodeName")
    if not commands:
        raise bad_request("you must specify at least 1 command")
    if not node:
        raise bad_request(f'pod "{meta["name"]}" has no node: nothing runs it')
    return StreamSpec(
        node=node, namespace=meta.get("namespace", ""), pod=meta["name"], kind=StreamKind.EXEC, container=container, command=tuple(commands)
    )


def frame(channel: int, data: bytes) -> bytes:
    """A binary websocket message from the server (never masked): the channel byte, then ``data``."""
    return _frame(0x2, bytes([channel]) + data)


def close_frame() -> bytes:
    return _frame(0x8, (1000).to_bytes(2, "big"))


def _frame(opcode: int, payload: bytes) -> bytes:
    size = len(payload)
    if size < 126:
        header = bytes([0x80 | opcode, size])
    elif size < 1 << 16:
        header = bytes([0x80 | opcode, 126]) + size.to_bytes(2, "big")
    else:
        header = bytes([0x80 | opcode, 127]) + size.to_bytes(8, "big")
    return header + payload


def final_status(exit_code: int | None, error: str | None) -> bytes:
    """What channel 3 carries at the end, as the kubelet writes it."""
    status: dict[str, Any]
    if error:
        status = {"metadata": {}, "status": "Failure", "message": error, "reason": "InternalError"}
    elif exit_code:
        status = {
            "metadata": {},
            "status": "Failure",
            "message": f"command terminated with non-zero exit code: error executing command, exit status {exit_code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
        }
    else:
        status = {"metadata": {}, "status": "Success"}
    return frame(ERROR, json.dumps(status).encode())


def channel_of(name: str) -> int:
    return _CHANNELS.get(name, STDOUT)


__all__ = ["SUBPROTOCOLS", "accept_key", "channel_of", "choose_subprotocol", "close_frame", "exec_spec", "final_status", "frame"]
