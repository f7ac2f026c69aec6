"""The mapper: serves this node's devices over their protocols (Modbus TCP/RTU, OPC-UA) as twin
values on the edge's MQTT broker (docs/protocol.md#11.3). A module (wire name ``mapper``) and
its own process (``python -m kubeedge_actors mapper``). pymodbus and asyncua load only when a
device of theirs is opened (the ``mappers`` extra)."""

from __future__ import annotations

from actors.mapper.actor import MAPPER_MODULE, MapperActor

__all__ = ["MAPPER_MODULE", "MapperActor"]
