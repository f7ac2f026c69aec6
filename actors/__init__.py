"""The modules of the edge core, one package each; they talk only through messages.

:func:`builtin_modules` maps each implemented module's wire name to how it is built; the
composition root (``kubeedge_actors.__main__``) hands it to the runtime.
"""

from __future__ import annotations

from actors.bus import BusActor
from actors.edged import EdgedActor
from actors.hub import HubActor
from actors.meta import MetaActor
from actors.twin import TwinActor
from kubeedge_actors.runtime import ModuleSpec


def builtin_modules() -> dict[str, ModuleSpec]:
    """Every module implemented so far, by wire name."""
    specs: list[ModuleSpec] = [
        ModuleSpec(MetaActor),
        ModuleSpec(TwinActor),
        ModuleSpec(BusActor),
        ModuleSpec(EdgedActor),
        ModuleSpec(HubActor),
    ]
    return {spec.module_name: spec for spec in specs}


__all__ = ["builtin_modules"]
