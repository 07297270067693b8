"""Kusto's `convert_*` functions: a value in one unit of a quantity converted to another.

Kusto converts through each quantity's base unit (the metre, the kilogram, the joule...) with the
factors of the UnitsNet library. UnitsNet has changed some factors over the years (the mile, the
gallon, the kilogram-force...), and which version Kusto runs is not published, so only units whose
factor has not changed are here (and the acre-foot, whose old factor the documentation's answer
shows). A unit Kusto knows and this table does not is refused by name rather than guessed; the unit
names must be string literals so that the refusal happens before the query runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from duckdb_kql import KqlUnsupportedError
from duckdb_kql import ir as kql_ir
from duckdb_kql import translate as kql_translate

__all__ = ["KqlRefusalError", "unit_forms"]


class KqlRefusalError(KqlUnsupportedError):
    """A construct refused with a whole Kusto-style sentence, answered to the caller as it is."""

    def __init__(self, sentence: str) -> None:
        super().__init__(sentence.split("(", 1)[0].strip(), hint=sentence)
        self.sentence = sentence


_PREFIXES = {
    "Femto": 1e-15,
    "Pico": 1e-12,
    "Nano": 1e-9,
    "Micro": 1e-6,
    "Milli": 1e-3,
    "Centi": 1e-2,
    "Deci": 1e-1,
    "Deca": 1e1,
    "Hecto": 1e2,
    "Kilo": 1e3,
    "Mega": 1e6,
    "Giga": 1e9,
    "Tera": 1e12,
    "Peta": 1e15,
}


def _prefixed(unit: str, factor: float, prefixes: str) -> dict[str, float]:
    """`unit` and its SI-prefixed forms (`Kilometer` is `Kilo` + `meter`), each as a factor to the base."""
    units = {unit: factor}
    for prefix in prefixes.split():
        units[prefix + unit[0].lower() + unit[1:]] = factor * _PREFIXES[prefix]
    return units


# Factor of each unit to its quantity's base unit (value * factor = value in the base unit).
_LENGTH = {
    **_prefixed("Meter", 1.0, "Femto Pico Nano Micro Milli Centi Deci Deca Hecto Kilo Mega Giga"),
    "Angstrom": 1e-10,
    "Inch": 2.54e-2,
    "Foot": 0.3048,
    "Yard": 0.9144,
    "UsSurveyFoot": 1200 / 3937,
    "Mil": 2.54e-5,
    "Microinch": 2.54e-8,
    "Hand": 1.016e-1,
    "Fathom": 1.8288,
    "Shackle": 27.432,
    "Chain": 20.1168,
    "NauticalMile": 1852.0,
}
_MASS = {
    **_prefixed("Gram", 1e-3, "Femto Pico Nano Micro Milli Centi Deci Deca Hecto Kilo"),
    **_prefixed("Tonne", 1e3, "Kilo Mega"),
    "ShortTon": 907.18474,
    "LongTon": 1016.0469088,
    **_prefixed("Pound", 0.45359237, "Kilo Mega"),
}
_ENERGY = {
    **_prefixed("Joule", 1.0, "Nano Micro Milli Kilo Mega Giga Tera Peta"),
    **_prefixed("Calorie", 4.184, "Kilo Mega"),
    **_prefixed("BritishThermalUnit", 1055.05585262, "Kilo Mega Giga"),
    **_prefixed("WattHour", 3600.0, "Kilo Mega Giga Tera"),
    "Erg": 1e-7,
}
_VOLUME = {
    **_prefixed("Liter", 1e-3, "Nano Micro Milli Centi Deci Deca Hecto Kilo Mega"),
    "CubicMeter": 1.0,
    "CubicKilometer": 1e9,
    "CubicHectometer": 1e6,
    "CubicDecimeter": 1e-3,
    "CubicCentimeter": 1e-6,
    "CubicMillimeter": 1e-9,
    # The factor Kusto's answers show (UnitsNet's before 2025), not today's 1233.48183754752.
    "AcreFoot": 1 / 0.000810714,
}
_SPEED = {
    **_prefixed("MeterPerSecond", 1.0, "Nano Micro Milli Centi Deci Kilo"),
    **_prefixed("MeterPerMinute", 1 / 60, "Nano Micro Milli Centi Deci Kilo"),
    **_prefixed("MeterPerHour", 1 / 3600, "Milli Centi Kilo"),
    "FootPerSecond": 0.3048,
    "FootPerMinute": 0.3048 / 60,
    "FootPerHour": 0.3048 / 3600,
    "InchPerSecond": 2.54e-2,
    "YardPerSecond": 0.9144,
    "MilePerHour": 0.44704,
}
_FORCE = {
    **_prefixed("Newton", 1.0, "Micro Milli Deca Kilo Mega"),
    "Dyn": 1e-5,
}
_ANGLE = {
    **_prefixed("Radian", 1.0, "Nano Micro Milli Centi Deci"),
    **_prefixed("Degree", math.pi / 180, "Nano Micro Milli"),
    "Arcminute": math.pi / (60 * 180),
    "Arcsecond": math.pi / (3600 * 180),
    "Gradian": math.pi / 200,
    "NatoMil": math.pi / 3200,
    "Revolution": 2 * math.pi,
}
# Temperatures are affine: kelvin = value * scale + offset.
_TEMPERATURE = {
    "Kelvin": (1.0, 0.0),
    "DegreeCelsius": (1.0, 273.15),
    "MillidegreeCelsius": (1 / 1000, 273.15),
    "DegreeFahrenheit": (5 / 9, 459.67 * 5 / 9),
    "DegreeRankine": (5 / 9, 0.0),
    "DegreeReaumur": (5 / 4, 273.15),
}

_QUANTITIES: dict[str, dict[str, tuple[float, float]]] = {
    name: {unit: (factor, 0.0) for unit, factor in units.items()}
    for name, units in (
        ("convert_length", _LENGTH),
        ("convert_mass", _MASS),
        ("convert_energy", _ENERGY),
        ("convert_volume", _VOLUME),
        ("convert_speed", _SPEED),
        ("convert_force", _FORCE),
        ("convert_angle", _ANGLE),
    )
}
_QUANTITIES["convert_temperature"] = _TEMPERATURE


def _unit(function: str, node: Any) -> tuple[float, float]:
    if not (isinstance(node, kql_ir.Literal) and node.kind == "string"):
        raise KqlRefusalError(f"{function}(): the units must be string literals in this local Log Analytics.")
    scale = _QUANTITIES[function].get(str(node.value))
    if scale is None:
        raise KqlRefusalError(f"{function}(): the unit '{node.value}' is not supported by this local Log Analytics.")
    return scale


def _render_convert(function: str) -> Callable[[Any], str | None]:
    def render(node: Any) -> str | None:
        if len(node.args) != 3:
            return None
        value, source, target = node.args
        (from_scale, from_offset), (to_scale, to_offset) = _unit(function, source), _unit(function, target)
        base = f"(CAST({kql_translate.render_expr(value)} AS DOUBLE) * {from_scale!r} + {from_offset!r})"
        return f"(({base} - {to_offset!r}) / {to_scale!r})"

    return render


def unit_forms() -> dict[str, Callable[[Any], str | None]]:
    """The `convert_*` functions, as special forms for the translator's table."""
    return {name: _render_convert(name) for name in _QUANTITIES}
