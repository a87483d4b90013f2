"""Answers in the tier's unit: SI values in, display values and phrases out."""

from __future__ import annotations

import math

from schemas.tiers import TIER_SPECS, UNIT_PER_METRE, UNIT_SYMBOL, DisplayUnit, ScaleTier


def round_significant(value: float, digits: int = 3) -> float:
    """Round to `digits` significant figures (answers keep ~0.1–1% resolution at every scale)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def length_unit(tier: ScaleTier, value_m: float | None = None) -> DisplayUnit:
    """The tier's length unit; drone lengths of a kilometre or more are stated in km."""
    if tier is ScaleTier.DRONE and value_m is not None and value_m >= 1000.0:
        return DisplayUnit.KM
    return TIER_SPECS[tier].length_unit


def length_answer(value_m: float, tier: ScaleTier) -> tuple[dict, str]:
    """Numeric answer fields and the answer text for a length in metres."""
    unit = length_unit(tier, value_m)
    shown = round_significant(value_m * UNIT_PER_METRE[unit])
    return {"value_si": value_m, "unit": unit, "display_value": shown}, f"{_fmt(shown)} {UNIT_SYMBOL[unit]}"


def quantity_answer(value_si: float, unit: DisplayUnit) -> tuple[dict, str]:
    """Numeric answer for an area (m²), volume (m³), angle (°), count or ratio, stated in SI."""
    shown = float(round(value_si)) if unit is DisplayUnit.COUNT else round_significant(value_si)
    text = _fmt(shown) + (f" {UNIT_SYMBOL[unit]}" if UNIT_SYMBOL[unit] and unit is not DisplayUnit.DEG
                          else UNIT_SYMBOL[unit])
    return {"value_si": value_si, "unit": unit, "display_value": shown}, text


def length_phrase(value_m: float, tier: ScaleTier) -> str:
    """'12.5 cm' style phrase for rationales."""
    return length_answer(value_m, tier)[1]


def unit_name(tier: ScaleTier) -> str:
    return UNIT_SYMBOL[TIER_SPECS[tier].length_unit]


def _fmt(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.0f}"
