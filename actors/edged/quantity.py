"""Kubernetes resource quantities (``100m``, ``0.5``, ``128Mi``, ``1G``) as numbers."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from actors.edged.errors import QuantityError

_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?$")
_FACTORS = {
    None: Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20,
    "Gi": Decimal(2) ** 30,
    "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50,
    "Ei": Decimal(2) ** 60,
}


def parse_quantity(value: Any) -> Decimal:
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip()) if isinstance(value, str) else None
    if match is None:
        raise QuantityError(f"{value!r} is not a quantity (e.g. 100m, 0.5, 128Mi)")
    try:
        number = Decimal(match[1]) * _FACTORS[match[2]]
    except InvalidOperation as exc:
        raise QuantityError(f"{value!r} is not a quantity") from exc
    if number < 0:
        raise QuantityError(f"{value!r} must not be negative")
    return number


def cpu_millis(value: Any) -> int:
    """CPU in thousandths of a core, rounded up as Kubernetes does."""
    return int((parse_quantity(value) * 1000).to_integral_value(rounding="ROUND_CEILING"))


def memory_bytes(value: Any) -> int:
    return int(parse_quantity(value).to_integral_value(rounding="ROUND_CEILING"))


__all__ = ["cpu_millis", "memory_bytes", "parse_quantity"]
