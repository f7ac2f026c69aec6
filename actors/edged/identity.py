"""Who a pod is: its namespace and uid when the cloud left them out, and which of its names
Docker can carry in a container name.

The original runs a pod whose metadata has a name and nothing else; so does edged:

- the namespace is the message's (``<ns>/pod/<name>``), else ``default``;
- the uid is derived from ``<namespace>/<name>`` (:func:`derived_uid`), so the same pod gets
  the same uid every time and a restarted edged adopts its containers;
- a pod that meta lists at start-up comes without its message, so when its metadata names no
  namespace edged assumes ``default`` and then places it where its containers say it was
  (``placed_by_containers`` in :mod:`actors.edged.pods`).

Docker takes a container name of ``[a-zA-Z0-9][a-zA-Z0-9_.-]*`` and of any length; ours is
``k8s_<container>_<pod>_<namespace>_<uid>_<restarts>`` (docs/protocol.md#7.2), so every part
may use those characters, ``_`` included (edged reads pods back from labels, never by
splitting the name). A part Docker cannot take is a problem naming the field.
"""

from __future__ import annotations

import re
import uuid

#: The uuid5 namespace of the uids edged derives; fixed forever, or restarts stop adopting.
POD_UID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_DNS, "pod-uid.kubeedge-actors")
DEFAULT_NAMESPACE = "default"

_DOCKER_NAME_PART = re.compile(r"[a-zA-Z0-9_.-]*")
#: The uid also names the pod's folder (docs/protocol.md#7.7): no leading dot.
_UID = re.compile(r"[a-zA-Z0-9_-][a-zA-Z0-9_.-]*")
DOCKER_CHARACTERS = "letters, digits, '_', '.' and '-'"


def derived_uid(namespace: str, name: str) -> str:
    """The uid of a pod the cloud sent without one: a uuid5 of ``<namespace>/<name>``, shaped
    like a Kubernetes uid."""
    return str(uuid.uuid5(POD_UID_NAMESPACE, f"{namespace}/{name}"))


def docker_name_error(field: str, value: str, *, uid: bool = False) -> str | None:
    """Why ``value`` cannot be a part of a Docker container name, or None when it can."""
    if uid:
        if _UID.fullmatch(value) is None:
            return f"{field}: {value!r} cannot name a Docker container or a pod folder ({DOCKER_CHARACTERS}; not starting with '.')"
        return None
    if _DOCKER_NAME_PART.fullmatch(value) is None:
        return f"{field}: {value!r} cannot be part of a Docker container name ({DOCKER_CHARACTERS})"
    return None


__all__ = ["DEFAULT_NAMESPACE", "POD_UID_NAMESPACE", "derived_uid", "docker_name_error"]
