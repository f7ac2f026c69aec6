"""The edge's modules, one package each, and the protocol they speak (:mod:`actors.protocol`).

Modules talk only through messages. :func:`builtin_modules` maps each module's wire name to
how it is built and when it starts; the composition root (``kubeedge_actors.__main__``, or
your program) hands it to the runtime. Importing this package imports no module: a program
that needs only the protocol (the cloud side) does not load Docker's or MQTT's libraries.
"""

from __future__ import annotations

from kubeedge_actors.actor import ModuleActor
from kubeedge_actors.runtime import ModuleSpec

#: Start order of the edge (stop is the reverse): storage first, then the devices and the pods,
#: the cloud link last, so that what the cloud sends finds everyone running. A module of your
#: own without a ``start_order`` (50) starts after edged and before the cloud link.
META_ORDER, TWIN_ORDER, BUS_ORDER, EDGED_ORDER, HUB_ORDER = 10, 20, 30, 40, 90
#: The mapper (off unless modules.enabled names it) starts after the bus, whose broker it uses.
MAPPER_ORDER = 35
#: The mapper's wire name and group, here so that an edge without it never imports it.
MAPPER_NAME = MAPPER_GROUP = "mapper"


def builtin_modules() -> dict[str, ModuleSpec]:
    """The edge's modules, by wire name, in start order: the five of the original, and the
    mapper, which runs only when ``modules.enabled`` names it."""
    from actors.bus import BusActor
    from actors.edged import EdgedActor
    from actors.hub import HubActor
    from actors.meta import MetaActor
    from actors.twin import TwinActor

    specs = [
        ModuleSpec(MetaActor, start_order=META_ORDER),
        ModuleSpec(TwinActor, start_order=TWIN_ORDER),
        ModuleSpec(BusActor, start_order=BUS_ORDER),
        ModuleSpec(load=_mapper_class, name=MAPPER_NAME, group=MAPPER_GROUP, start_order=MAPPER_ORDER),
        ModuleSpec(EdgedActor, start_order=EDGED_ORDER),
        ModuleSpec(HubActor, start_order=HUB_ORDER),
    ]
    return {spec.module_name: spec for spec in specs}


def _mapper_class() -> type[ModuleActor]:
    from actors.mapper import MapperActor  # off by default: imported only when enabled

    return MapperActor


__all__ = ["builtin_modules"]
