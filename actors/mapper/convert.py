"""Values between a device's raw form and a twin's text (docs/protocol.md#11.3, conversions).

Pure functions. Modbus reads follow v1.0's ``transferType`` with its defects fixed: a missing
``scale`` is 1 (v1.0: ``NaN``), coil bits are read as bits (v1.0: ``NaN``), ``isSwap`` and
``isRegisterSwap`` apply to writes too, and a zero word is kept when writing (v1.0 dropped it).
Registers are unsigned, big-endian across registers, as in v1.0.
"""

from __future__ import annotations

import math
from typing import Any

from actors.mapper.errors import ConversionError
from actors.mapper.profile import PropertyPlan

BIT_REGISTERS = ("CoilRegister", "DiscreteInputRegister")
WRITABLE_REGISTERS = ("CoilRegister", "HoldingRegister")


# --- typed values and twin text -------------------------------------------------------------


def parse_text(text: str, prop: PropertyPlan) -> Any:
    """A twin's text as a value of the property's type, checked against minimum/maximum.

    Raises:
        ConversionError: it is not of that type, or out of range.
    """
    try:
        if prop.data_type == "int":
            number = float(text)
            if not number.is_integer():
                raise ValueError(text)
            value: Any = int(number)
        elif prop.data_type == "float":
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(text)
        elif prop.data_type == "boolean":
            value = {"true": True, "false": False, "1": True, "0": False}[text.strip().lower()]
        else:
            return text
    except (ValueError, KeyError):
        raise ConversionError(f"{prop.name}: {text!r} is not a {prop.data_type}") from None
    if not isinstance(value, bool):
        if prop.minimum is not None and value < prop.minimum:
            raise ConversionError(f"{prop.name}: {text} is below the minimum {_shown(prop.minimum)}")
        if prop.maximum is not None and value > prop.maximum:
            raise ConversionError(f"{prop.name}: {text} is above the maximum {_shown(prop.maximum)}")
    return value


def to_text(value: Any, prop: PropertyPlan) -> str:
    """A value read from a device as the twin's text, of the property's type, clamped to
    minimum/maximum as v1.0 clamps."""
    if prop.data_type == "boolean":
        return "true" if bool(value) else "false"
    if prop.data_type == "string":
        return str(value)
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConversionError(f"{prop.name}: the device gave {value!r}, not a {prop.data_type}") from None
    if prop.maximum is not None:
        number = min(number, prop.maximum)
    if prop.minimum is not None:
        number = max(number, prop.minimum)
    if prop.data_type == "int":
        return str(round(number))
    return _shown(number)


def _shown(number: float) -> str:
    # No exponent: the twin accepts only [a-zA-Z0-9-_.,:/@#] in a value (docs/protocol.md#5.5).
    text = f"{number:.6f}".rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text


# --- Modbus ---------------------------------------------------------------------------------


def _scale(prop: PropertyPlan) -> float:
    scale = prop.visitor.get("scale")
    return float(scale) if isinstance(scale, int | float) and not isinstance(scale, bool) and scale != 0 else 1.0


def _reorder(words: list[int], prop: PropertyPlan) -> list[int]:
    if prop.visitor.get("isRegisterSwap"):
        words = list(reversed(words))
    if prop.visitor.get("isSwap"):
        words = [((w & 0xFF) << 8) | (w >> 8) for w in words]
    return words


def modbus_decode(raw: list[int] | list[bool], prop: PropertyPlan) -> str:
    """What a read of ``limit`` registers (or bits) says, as the twin's text."""
    register = prop.visitor["register"]
    if register in BIT_REGISTERS:
        bits = [bool(b) for b in raw]
        if prop.data_type == "boolean":
            return to_text(bits[0], prop)
        if prop.data_type == "string":
            raise ConversionError(f"{prop.name}: a {register} cannot hold a string")
        return to_text(int("".join("1" if b else "0" for b in bits), 2) * _scale(prop), prop)
    words = _reorder([int(w) & 0xFFFF for w in raw], prop)
    if prop.data_type == "string":
        return bytes(w & 0xFF for w in words).rstrip(b"\0").decode("utf-8", errors="replace")
    if prop.data_type == "boolean":
        if words[0] not in (0, 1):
            raise ConversionError(f"{prop.name}: {words[0]} is not a boolean (0 or 1)")
        return to_text(words[0] == 1, prop)
    number = 0
    for word in words:
        number = (number << 16) | word
    return to_text(number * _scale(prop), prop)


def modbus_encode(text: str, prop: PropertyPlan) -> list[int] | list[bool]:
    """The registers (or bits) to write for a twin's text.

    Raises:
        ConversionError: a read-only register, or a value that does not fit.
    """
    register, limit = prop.visitor["register"], int(prop.visitor["limit"])
    if register not in WRITABLE_REGISTERS:
        raise ConversionError(f"{prop.name}: a {register} cannot be written")
    value = parse_text(text, prop)
    if register == "CoilRegister":
        if prop.data_type == "string":
            raise ConversionError(f"{prop.name}: a coil cannot hold a string")
        raw = round(float(value) / _scale(prop)) if not isinstance(value, bool) else int(value)
        if not 0 <= raw < 2**limit:
            raise ConversionError(f"{prop.name}: {text} does not fit {limit} coil(s)")
        return [bit == "1" for bit in format(raw, f"0{limit}b")]
    if prop.data_type == "string":
        data = str(value).encode()
        if len(data) > limit:
            raise ConversionError(f"{prop.name}: {text!r} is longer than {limit} registers (one byte each)")
        return _reorder(list(data) + [0] * (limit - len(data)), prop)
    raw = int(value) if isinstance(value, bool) else round(float(value) / _scale(prop))
    if not 0 <= raw < 2 ** (16 * limit):
        raise ConversionError(f"{prop.name}: {text} does not fit {limit} register(s)")
    words = [(raw >> (16 * (limit - 1 - i))) & 0xFFFF for i in range(limit)]
    return _reorder(words, prop)


__all__ = ["modbus_decode", "modbus_encode", "parse_text", "to_text"]
