"""The files of configMap, secret, downwardAPI and projected volumes (docs/protocol.md#7.10).

Pure: from the pod and the objects a job was given to ``relative path → (content, mode)``,
which :class:`actors.edged.volumes.PodFiles` publishes as one version. A downwardAPI file
holds what the kubelet writes: a name, namespace or uid as it is; labels and annotations one
``key="value"`` a line (value quoted as Go's ``%q``), sorted by key, without a final newline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from actors.edged.containers import node_allocatable, object_files, resource_value
from actors.edged.errors import ContainerConfigError, VolumeError
from actors.edged.pods import DownwardItem, ObjectRef, Pod, Volume

#: The objects of the job: the object, None when meta has none (may raise ObjectFetchError,
#: ObjectNeeded, as :meth:`actors.edged.objects.JobObjects.get`).
GetObject = Callable[[ObjectRef], Mapping[str, Any] | None]
Files = dict[str, tuple[bytes, int]]

_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\v": "\\v", "\\": "\\\\", '"': '\\"'}


def go_quote(text: str) -> str:
    """Go's ``strconv.Quote`` for the text a label or annotation holds."""
    out = []
    for char in text:
        if char in _GO_ESCAPES:
            out.append(_GO_ESCAPES[char])
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


def format_map(values: Mapping[str, str]) -> str:
    """The kubelet's ``fieldpath.FormatMap``: ``key="value"`` lines, sorted by key."""
    return "\n".join(f"{key}={go_quote(values[key])}" for key in sorted(values))


def downward_value(pod: Pod, item: DownwardItem) -> str:
    """The text of one downwardAPI file."""
    if item.resource is not None:
        return resource_value(pod, pod.containers[0], item.resource, node_allocatable)
    path = item.field_path
    simple = {"metadata.name": pod.name, "metadata.namespace": pod.namespace, "metadata.uid": pod.uid}
    if path in simple:
        return simple[path]
    if path in ("metadata.labels", "metadata.annotations"):
        return format_map(pod.labels if path == "metadata.labels" else pod.annotations)
    kind, _, rest = path.partition("['")  # metadata.labels['key'] (checked by the parser)
    source = pod.labels if kind == "metadata.labels" else pod.annotations
    return source.get(rest[:-2], "")


def volume_files(pod: Pod, volume: Volume, get_object: GetObject) -> Files:
    """The files of a configMap, secret, downwardAPI or projected volume.

    Raises:
        VolumeError: a configmap, secret or key it needs is missing and not optional, or a
            value cannot be computed; the message names the volume.
    """
    if volume.kind == "projected":
        files: Files = {}
        for source in volume.sources:  # later sources win a path, as the kubelet writes them in order
            files.update(volume_files(pod, source, get_object))
        return files
    if volume.kind == "downwardAPI":
        try:
            return {item.path: (downward_value(pod, item).encode(), _mode(item.mode, volume)) for item in volume.downward}
        except ContainerConfigError as exc:
            raise VolumeError(f'volume "{volume.name}": {exc}') from exc
    return _object_volume_files(pod, volume, get_object)


def _object_volume_files(pod: Pod, volume: Volume, get_object: GetObject) -> Files:
    assert volume.ref is not None
    obj = get_object(volume.ref)
    if obj is None:
        if not volume.optional:
            raise VolumeError(f'volume "{volume.name}": {volume.ref.kind} "{volume.ref.name}" not found')
        obj = {}
    try:
        content = object_files(volume.ref, obj)
    except ContainerConfigError as exc:
        raise VolumeError(f'volume "{volume.name}": {exc}') from exc
    if not volume.items:
        return {key: (value, volume.default_mode) for key, value in content.items()}
    wanted: Files = {}
    for item in volume.items:
        if item.key not in content:
            if volume.optional:
                continue
            raise VolumeError(f'volume "{volume.name}": key "{item.key}" not found in {volume.ref.kind} "{volume.ref.name}"')
        wanted[item.path] = (content[item.key], _mode(item.mode, volume))
    return wanted


def _mode(mode: int | None, volume: Volume) -> int:
    return mode if mode is not None else volume.default_mode


__all__ = ["GetObject", "downward_value", "format_map", "go_quote", "volume_files"]
