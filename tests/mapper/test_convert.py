"""Tier 1: raw Modbus registers and OPC-UA values ↔ twin text (actors/mapper/convert.py)."""

from __future__ import annotations

from typing import Any

import pytest

from actors.mapper.convert import modbus_decode, modbus_encode, parse_text, to_text
from actors.mapper.errors import ConversionError
from actors.mapper.profile import PropertyPlan


def prop(data_type: str = "int", register: str = "HoldingRegister", limit: int = 1, **visitor: Any) -> PropertyPlan:
    bounds = {k: visitor.pop(k) for k in ("minimum", "maximum") if k in visitor}
    return PropertyPlan("p", data_type, True, {"register": register, "offset": 0, "limit": limit, **visitor}, **bounds)


def test_a_register_without_a_scale_reads_as_its_value_not_nan() -> None:
    assert modbus_decode([215], prop()) == "215"


def test_a_scaled_register_reads_as_a_float_without_an_exponent() -> None:
    assert modbus_decode([215], prop("float", scale=0.1)) == "21.5"
    assert modbus_decode([65535, 65535], prop("float", limit=2, scale=1000)) == "4294967295000"


def test_registers_join_big_endian_and_swap_as_the_visitor_says() -> None:
    assert modbus_decode([0x0001, 0x0002], prop(limit=2)) == str(0x00010002)
    assert modbus_decode([0x0001, 0x0002], prop(limit=2, isRegisterSwap=True)) == str(0x00020001)
    assert modbus_decode([0x0102], prop(isSwap=True)) == str(0x0201)


def test_a_read_is_clamped_to_the_property_s_limits_as_v1_clamps() -> None:
    assert modbus_decode([500], prop(minimum=0, maximum=100)) == "100"


def test_coils_read_as_bits_and_as_booleans() -> None:
    assert modbus_decode([True, False, True], prop(register="CoilRegister", limit=3)) == "5"
    assert modbus_decode([True], prop("boolean", register="DiscreteInputRegister")) == "true"


def test_a_string_is_one_byte_per_register() -> None:
    assert modbus_decode([ord("o"), ord("k"), 0], prop("string", limit=3)) == "ok"


@pytest.mark.parametrize(
    ("plan", "text", "raw"),
    [
        (prop(), "22", [22]),
        (prop("float", scale=0.1), "21.5", [215]),
        (prop(limit=2), "65536", [1, 0]),
        (prop(limit=2, isRegisterSwap=True, isSwap=True), str(0x01020304), [0x0403, 0x0201]),
        (prop("boolean", register="CoilRegister"), "true", [True]),
        (prop(register="CoilRegister", limit=3), "5", [True, False, True]),
        (prop("string", limit=4), "ok", [ord("o"), ord("k"), 0, 0]),
    ],
    ids=["plain", "scaled", "zero-word-kept", "both-swaps", "coil-boolean", "coil-bits", "string"],
)
def test_a_write_encodes_what_a_read_decodes_back(plan: PropertyPlan, text: str, raw: list[Any]) -> None:
    assert modbus_encode(text, plan) == raw
    assert modbus_decode(raw, plan) == text


@pytest.mark.parametrize(
    ("plan", "text", "why"),
    [
        (prop(register="InputRegister"), "1", "cannot be written"),
        (prop(), "70000", "does not fit"),
        (prop(maximum=30), "31", "above the maximum"),
        (prop(), "warm", "is not a int"),
        (prop("string", limit=1), "too long", "longer than"),
    ],
    ids=["read-only-register", "too-big", "above-maximum", "not-a-number", "string-too-long"],
)
def test_a_value_that_does_not_fit_is_refused_with_the_reason(plan: PropertyPlan, text: str, why: str) -> None:
    with pytest.raises(ConversionError, match=why):
        modbus_encode(text, plan)


def test_typed_values_convert_both_ways() -> None:
    assert parse_text("21.0", prop()) == 21
    assert parse_text("1", prop("boolean")) is True
    assert to_text(2.5, prop("float")) == "2.5"
    assert to_text(2.6, prop()) == "3"
    assert to_text(False, prop("boolean")) == "false"
