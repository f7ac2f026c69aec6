"""Pod folders and volume files under ``<edged.root-directory>/pods/<uid>/`` (docs/protocol.md#7.7).

The filesystem side effect of edged, behind one small class. Configmap, secret, downwardAPI and
projected volumes are written the way the kubelet's atomic writer does it, so that a container sees a changed
configmap all at once::

    volumes/kubernetes.io~configmap/<volume>/
        ..2026_11_27_14_07_12.123456789/   the files of one version
        ..data -> ..2026_11_27_...          swapped with one rename
        <key>  -> ..data/<key>              what the container reads

The volume folder itself is bind-mounted, so a new version shows without a restart.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping
from pathlib import Path

from actors.edged.errors import VolumeError

PLUGIN_FOLDERS = {
    "configMap": "kubernetes.io~configmap",
    "secret": "kubernetes.io~secret",
    "emptyDir": "kubernetes.io~empty-dir",
    "downwardAPI": "kubernetes.io~downward-api",
    "projected": "kubernetes.io~projected",
}
_DATA_LINK = "..data"


class PodFiles:
    """Creates, rewrites and removes pod folders below ``root/pods``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.pods_dir = root / "pods"

    def pod_dir(self, uid: str) -> Path:
        if not uid or "/" in uid or uid.startswith("."):
            raise VolumeError(f"pod uid {uid!r} cannot name a folder")
        return self.pods_dir / uid

    def ensure_pod_dirs(self, uid: str) -> Path:
        pod_dir = self.pod_dir(uid)
        for sub in ("volumes", "plugins"):
            (pod_dir / sub).mkdir(mode=0o750, parents=True, exist_ok=True)  # docs/protocol.md#7.1 step 2
        return pod_dir

    def volume_dir(self, uid: str, kind: str, volume: str) -> Path:
        return self.pod_dir(uid) / "volumes" / PLUGIN_FOLDERS[kind] / volume

    def ensure_empty_dir(self, uid: str, volume: str) -> Path:
        path = self.volume_dir(uid, "emptyDir", volume)
        path.mkdir(mode=0o777, parents=True, exist_ok=True)
        return path

    def write_volume(self, uid: str, kind: str, volume: str, files: Mapping[str, tuple[bytes, int]]) -> Path:
        """Publish ``files`` (relative path → content, mode) as the new version of a volume."""
        target = self.volume_dir(uid, kind, volume)
        target.mkdir(mode=0o755, parents=True, exist_ok=True)
        if self._current_files(target) == dict(files):
            return target
        version = target / f"..{time.strftime('%Y_%m_%d_%H_%M_%S')}.{time.time_ns() % 1_000_000_000:09d}"
        version.mkdir(mode=0o755)
        for relative, (content, mode) in files.items():
            path = version / relative
            path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
            path.write_bytes(content)
            path.chmod(mode)
        temporary = target / "..data_tmp"
        if temporary.is_symlink():
            temporary.unlink()
        temporary.symlink_to(version.name)
        temporary.replace(target / _DATA_LINK)  # one rename: readers see old or new, never half
        self._link_top_level(target, {relative.split("/", 1)[0] for relative in files})
        for entry in target.iterdir():
            if entry.name.startswith("..") and entry.name not in (_DATA_LINK, version.name) and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
        return target

    def remove_pod(self, uid: str) -> None:
        try:
            folder = self.pod_dir(uid)
        except VolumeError:
            return  # a uid that cannot name a folder never had one
        shutil.rmtree(folder, ignore_errors=True)

    def pod_uids(self) -> set[str]:
        if not self.pods_dir.is_dir():
            return set()
        return {entry.name for entry in self.pods_dir.iterdir() if entry.is_dir()}

    @staticmethod
    def _link_top_level(target: Path, names: set[str]) -> None:
        for entry in target.iterdir():
            if not entry.name.startswith("..") and entry.is_symlink() and entry.name not in names:
                entry.unlink()
        for name in names:
            link = target / name
            if not link.is_symlink():
                link.symlink_to(f"{_DATA_LINK}/{name}")

    @staticmethod
    def _current_files(target: Path) -> dict[str, tuple[bytes, int]]:
        data = target / _DATA_LINK
        if not data.is_dir():
            return {}
        current: dict[str, tuple[bytes, int]] = {}
        for folder, _dirs, names in os.walk(data, followlinks=True):
            for name in names:
                path = Path(folder) / name
                current[str(path.relative_to(data))] = (path.read_bytes(), path.stat().st_mode & 0o777)
        return current


__all__ = ["PLUGIN_FOLDERS", "PodFiles"]
