"""``GET /api/v1/namespaces/<ns>/pods/<name>/log``: a pod's log from its edge, through the cloud
side's stream module (docs/protocol.md#9.5), as Kubernetes answers it: the raw text, chunked
while ``follow`` (docs/protocol.md#12.4). Only inside the cloud side (module ``kubeapi``): the
``apiserver`` command alone has no link to the edges and answers 404."""

from __future__ import annotations

from collections.abc import Callable, Generator

from actors.protocol import StreamKind
from kubeedge_cloud.kube.errors import KubeApiError, bad_request
from kubeedge_cloud.kube.store import Obj
from kubeedge_cloud.streams import (
    START_TIMEOUT_S,
    ReaderBody,
    StreamEnded,
    StreamFailed,
    StreamReader,
    StreamSpec,
    StreamUnavailableError,
)

#: Opens a stream to an edge (``stream_desk(router).open``).
OpenStream = Callable[[StreamSpec], StreamReader]

_REASONS = {400: "BadRequest", 404: "NotFound", 503: "ServiceUnavailable", 504: "Timeout"}


def log_spec(pod: Obj, query: dict[str, str]) -> StreamSpec:
    """The stream kubectl's query asks for (``container``, ``follow``, ``tailLines``, ``sinceSeconds``).

    Raises:
        KubeApiError: 400 for a pod without a node or a parameter that is not a number.
    """
    meta = pod["metadata"]
    node = pod.get("spec", {}).get("nodeName")
    if not node:
        raise bad_request(f'pod "{meta["name"]}" has no node: no log yet')
    return StreamSpec(
        node=node,
        namespace=meta.get("namespace", ""),
        pod=meta["name"],
        kind=StreamKind.LOGS,
        container=query.get("container", ""),
        follow=query.get("follow", "") in ("1", "true"),
        tail=_count(query, "tailLines", -1),
        since_s=_count(query, "sinceSeconds", 0),
    )


def open_log(open_stream: OpenStream, spec: StreamSpec) -> Generator[bytes | None, None, None]:
    """The log's chunks (None while nothing comes, for the server to check its client); the
    reader is closed when the iterator is.

    Raises:
        KubeApiError: the stream did not open (the node away, no such container...).
    """
    return _chunks(ReaderBody(opened(open_stream, spec), frames=False))


def opened(open_stream: OpenStream, spec: StreamSpec) -> StreamReader:
    """A stream that the edge opened (its first event read).

    Raises:
        KubeApiError: it did not open: 503 the node away or no stream module, 504 no answer, 400 the edge refused.
    """
    try:
        reader = open_stream(spec)
    except StreamUnavailableError as exc:
        raise KubeApiError(503, "ServiceUnavailable", str(exc)) from exc
    first = reader.next(START_TIMEOUT_S + 5)  # the stream module answers within its own bound
    if first is None or isinstance(first, StreamFailed) or (isinstance(first, StreamEnded) and first.error):
        reader.close()
        code = 504 if first is None else first.status if isinstance(first, StreamFailed) else 400
        text = "the stream module did not answer" if first is None else first.error or ""
        raise KubeApiError(code, _REASONS.get(code, "InternalError"), text)
    return reader


def _chunks(body: ReaderBody) -> Generator[bytes | None, None, None]:
    try:
        yield from body.chunks()
    finally:
        body.close()


def _count(query: dict[str, str], key: str, default: int) -> int:
    text = query.get(key, "")
    if not text:
        return default
    if not text.isdigit():
        raise bad_request(f"{key} must be a whole number, not {text!r}")
    return int(text)


__all__ = ["OpenStream", "log_spec", "open_log", "opened"]
