"""Names inside the cloud hub's runtime: its modules, and the control API's operations."""

from __future__ import annotations

from enum import StrEnum

#: Module names as in the original cloud (docs/protocol.md#1.5); groups as at v1.0.0 (docs/protocol.md#9.3).
CLOUDHUB_MODULE = "cloudhub"
CLOUDHUB_GROUP = "cloudhub"
CONTROLLER_MODULE = "controller"
DEVICE_CONTROLLER_MODULE = "devicecontroller"
CONTROLLER_GROUP = "controller"
API_MODULE = "cloudapi"
API_GROUP = "api"
#: Ours: log and exec streams of edge pods (docs/protocol.md#9.5).
STREAMS_MODULE = "cloudstreams"
#: The Kubernetes API module (kubeedge_cloud/kube/actor.py): its controller hears the edges through ``controller``.
KUBE_MODULE = "kubeapi"

#: What the controllers send to edges as (docs/protocol.md#9.2, docs/protocol.md#9.3).
CONTROLLER_SOURCE = "controller"
DEVICE_CONTROLLER_SOURCE = "devicecontroller"


class ApiOperation(StrEnum):
    """Requests from the control API to the controllers (sync, group ``api``)."""

    APPLY = "apply"  # content {"objects": [manifest...], "node": str | None}
    DELETE = "delete"  # content {"objects": [manifest...]} or {"kind", "namespace", "name", "node"}
    LIST = "list"  # resource: nodes | pods | configmaps | secrets | devices; content {"namespace": str | None}


#: What ``kubeapi`` marks its hand-overs to the controllers with (docs/protocol.md#12.5): the
#: controllers' own mark, kept in their store and never sent to an edge (a pod must not see it).
HANDED_OVER_ANNOTATION = "kubeedge-actors.io/handed-over-by"


__all__ = [
    "API_GROUP",
    "API_MODULE",
    "CLOUDHUB_GROUP",
    "CLOUDHUB_MODULE",
    "CONTROLLER_GROUP",
    "CONTROLLER_MODULE",
    "CONTROLLER_SOURCE",
    "DEVICE_CONTROLLER_MODULE",
    "DEVICE_CONTROLLER_SOURCE",
    "HANDED_OVER_ANNOTATION",
    "KUBE_MODULE",
    "STREAMS_MODULE",
    "ApiOperation",
]
