"""``python examples/busybox_image.py``: a local busybox image, made without a registry.

The quickstart's pod and the tests run ``kubeedge-actors/busybox:<tag>``: a rootfs holding
Debian's static busybox (package ``busybox-static``) and a link per applet, imported into
Docker (``docker import``). Nothing is pulled, so it works on a machine with no registry.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import TextIO

import docker
import docker.errors

QUICKSTART_IMAGE = "kubeedge-actors/busybox:quickstart"
BUSYBOX = Path("/bin/busybox")
_FOLDERS = ("bin", "etc", "tmp", "proc", "sys", "dev")


DOCKER_ADDRESS = "unix:///var/run/docker.sock"


class LocalImageError(Exception):
    """The image cannot be made: busybox is missing or Docker refused."""


def busybox_rootfs_tar(busybox: Path = BUSYBOX) -> bytes:
    """A rootfs holding ``busybox`` (a static binary) and its applet links, as a tar.

    Raises:
        LocalImageError: ``busybox`` is missing or cannot list its applets.
    """
    if not busybox.is_file():
        raise LocalImageError(f"{busybox} is missing (Debian package busybox-static)")
    try:
        listed = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as exc:
        raise LocalImageError(f"{busybox} --list failed: {exc}") from exc
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in _FOLDERS:
            info = tarfile.TarInfo(folder)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        tar.add(str(busybox), arcname="bin/busybox")
        for applet in listed.stdout.split():
            if applet != "busybox":
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type = tarfile.SYMTYPE
                link.linkname = "busybox"
                tar.addfile(link)
    return buffer.getvalue()


def ensure_busybox_image(client: docker.APIClient, reference: str, busybox: Path = BUSYBOX, *, force: bool = False) -> bool:
    """Import the busybox rootfs as ``reference`` unless Docker has it (or ``force``).

    Returns:
        True when it imported the image, False when it was already there.

    Raises:
        LocalImageError: busybox is missing, or Docker refused the import.
    """
    repository, _, tag = reference.rpartition(":")
    if not repository or "/" in tag:
        raise LocalImageError(f"{reference!r} is not a <repository>:<tag> reference")
    if not force and _has_image(client, reference):
        return False
    rootfs = busybox_rootfs_tar(busybox)
    try:
        client.import_image_from_data(rootfs, repository=repository, tag=tag)
    except docker.errors.DockerException as exc:
        raise LocalImageError(f"docker import of {reference} failed: {exc}") from exc
    return True


def _has_image(client: docker.APIClient, reference: str) -> bool:
    try:
        client.inspect_image(reference)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.DockerException as exc:
        raise LocalImageError(f"cannot ask Docker for {reference}: {exc}") from exc
    return True


def add_image_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--docker-address", default=DOCKER_ADDRESS, help=f"the Docker Engine (default: {DOCKER_ADDRESS})")
    parser.add_argument("reference", nargs="?", default=QUICKSTART_IMAGE, help=f"image to make (default: {QUICKSTART_IMAGE})")
    parser.add_argument("--busybox", type=Path, default=BUSYBOX, help=f"static busybox binary to put in it (default: {BUSYBOX})")
    parser.add_argument("--force", action="store_true", help="import again even when Docker has the image")


def run_image(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    """Make the image through the Docker Engine at ``--docker-address``."""
    try:
        client = docker.APIClient(base_url=args.docker_address, timeout=120)
    except docker.errors.DockerException as exc:
        print(f"error: cannot reach Docker at {args.docker_address}: {exc}", file=sys.stderr)
        return 2
    try:
        imported = ensure_busybox_image(client, args.reference, args.busybox, force=args.force)
    except LocalImageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
    print(f"{'imported' if imported else 'kept'} {args.reference}{'' if imported else ' (--force imports it again)'}", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make the local busybox image the examples run (no registry needed).")
    add_image_arguments(parser)
    return run_image(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())


__all__ = [
    "BUSYBOX",
    "QUICKSTART_IMAGE",
    "LocalImageError",
    "add_image_arguments",
    "busybox_rootfs_tar",
    "ensure_busybox_image",
    "main",
    "run_image",
]
