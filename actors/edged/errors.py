"""Every error edged raises, under :class:`EdgedError` (itself a :class:`KubeEdgeActorsError`).

Two kinds: bad input from the cloud (a pod spec, a configmap, a pull secret), which edged
reports in a pod's status and never lets crash it; and failures of what edged drives (Docker,
files, meta), converted at the adapter that met them.
"""

from __future__ import annotations

from kubeedge_actors.errors import KubeEdgeActorsError, MessageRejected


class EdgedError(KubeEdgeActorsError):
    """Root of edged's own errors."""


# --- bad input from the cloud --------------------------------------------------------------


class PodRejected(MessageRejected):
    """Content that is not a pod edged can even name."""


class SpecError(EdgedError):
    """One bad field of a pod spec; the message names the field."""


class ImageReferenceError(EdgedError):
    """An image name Docker would refuse."""


class QuantityError(EdgedError):
    """Not a Kubernetes quantity."""


class ContainerConfigError(EdgedError):
    """The container's configuration cannot be resolved (CreateContainerConfigError)."""


class PullSecretError(EdgedError):
    """An image pull secret that is not a docker config edged can read."""


# --- what edged drives ------------------------------------------------------------------------


class ContainerRuntimeError(EdgedError):
    """A container runtime call failed; the message says which call and why."""


class RuntimeUnavailableError(ContainerRuntimeError):
    """The Docker daemon cannot be reached (not running, socket gone, restarting)."""


class ContainerNotFoundError(ContainerRuntimeError):
    """The container does not exist (any more)."""


class ImagePullError(ContainerRuntimeError):
    """The registry refused or could not serve the image."""


class ImageNeverPulledError(EdgedError):
    """The pull policy is Never and the image is not present."""


class VolumeError(EdgedError):
    """A volume, or the pod's folder, cannot be set up; the message names it."""


class ObjectFetchError(EdgedError):
    """meta could not answer a query for a configmap or secret (timeout, error reply)."""


class MetaReplyError(MessageRejected):
    """meta's answer is an error or not of the agreed shape."""


__all__ = [
    "ContainerConfigError",
    "ContainerNotFoundError",
    "ContainerRuntimeError",
    "EdgedError",
    "ImageNeverPulledError",
    "ImagePullError",
    "ImageReferenceError",
    "MetaReplyError",
    "ObjectFetchError",
    "PodRejected",
    "PullSecretError",
    "QuantityError",
    "RuntimeUnavailableError",
    "SpecError",
    "VolumeError",
]
