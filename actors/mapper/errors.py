"""The mapper's errors, under :class:`~kubeedge_actors.errors.KubeEdgeActorsError`."""

from __future__ import annotations

from kubeedge_actors.errors import KubeEdgeActorsError


class MapperError(KubeEdgeActorsError):
    """Root of the mapper's errors."""


class ProfileError(MapperError):
    """A ``deviceProfile.json`` that cannot be used; the text names the entry and the field."""


class DeviceIoError(MapperError):
    """A device did not answer, or refused a read or write (the library's error converted)."""


class ConversionError(MapperError):
    """A value that does not fit its property (type, range, registers)."""


class UnsupportedProtocolError(MapperError):
    """A protocol this node cannot speak (Bluetooth: no BLE stack here)."""


__all__ = ["ConversionError", "DeviceIoError", "MapperError", "ProfileError", "UnsupportedProtocolError"]
