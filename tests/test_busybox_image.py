"""Tier 1: the rootfs of the local busybox image, and what goes wrong clearly."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from examples.busybox_image import BUSYBOX, LocalImageError, busybox_rootfs_tar, ensure_busybox_image


def fake_busybox(folder: Path, applets: list[str]) -> Path:
    """A stand-in for /bin/busybox: a script that lists ``applets``."""
    path = folder / "busybox"
    path.write_text("#!/bin/sh\nprintf '%s\\n' " + " ".join(applets) + "\n")
    path.chmod(0o755)
    return path


def test_the_rootfs_holds_busybox_a_link_per_applet_and_the_usual_folders(tmp_path: Path) -> None:
    busybox = fake_busybox(tmp_path, ["busybox", "sh", "cat", "sleep"])

    with tarfile.open(fileobj=io.BytesIO(busybox_rootfs_tar(busybox))) as tar:
        members = {member.name: member for member in tar.getmembers()}

    assert members["bin/busybox"].isfile() and members["bin/busybox"].mode & 0o111
    assert {name: m.linkname for name, m in members.items() if m.issym()} == {
        "bin/sh": "busybox",
        "bin/cat": "busybox",
        "bin/sleep": "busybox",
    }
    assert {name for name, m in members.items() if m.isdir()} == {"bin", "etc", "tmp", "proc", "sys", "dev"}
    assert members["tmp"].mode == 0o1777


def test_a_missing_busybox_names_the_debian_package(tmp_path: Path) -> None:
    with pytest.raises(LocalImageError, match="busybox-static"):
        busybox_rootfs_tar(tmp_path / "busybox")


def test_a_reference_without_a_tag_is_refused_before_docker_is_asked() -> None:
    class NoDocker:
        def __getattr__(self, name: str) -> None:
            raise AssertionError(f"Docker was asked: {name}")

    with pytest.raises(LocalImageError, match="not a <repository>:<tag> reference"):
        ensure_busybox_image(NoDocker(), "kubeedge-actors/busybox", BUSYBOX)  # type: ignore[arg-type]
