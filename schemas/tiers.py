"""The five scale tiers, their display units and the extent ranges that assign a tier."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict


class ScaleTier(str, Enum):
    TINY_TABLETOP = "tiny_tabletop"
    TABLETOP = "tabletop"
    INDOOR = "indoor"
    OUTDOOR = "outdoor"
    DRONE = "drone"


class DisplayUnit(str, Enum):
    """Units answers are stated in; stored values stay SI (m, m², m³, degrees, counts)."""

    MM = "mm"
    CM = "cm"
    M = "m"
    KM = "km"
    M2 = "m2"
    M3 = "m3"
    DEG = "deg"
    COUNT = "count"
    RATIO = "ratio"


UNIT_PER_METRE = {DisplayUnit.MM: 1000.0, DisplayUnit.CM: 100.0, DisplayUnit.M: 1.0, DisplayUnit.KM: 0.001}
UNIT_SYMBOL = {
    DisplayUnit.MM: "mm", DisplayUnit.CM: "cm", DisplayUnit.M: "m", DisplayUnit.KM: "km",
    DisplayUnit.M2: "m²", DisplayUnit.M3: "m³", DisplayUnit.DEG: "°", DisplayUnit.COUNT: "", DisplayUnit.RATIO: "",
}


class TierSpec(BaseModel):
    """Working definition of a tier (SPEC.md table): scene extent range in metres and answer unit."""

    model_config = ConfigDict(frozen=True)

    tier: ScaleTier
    min_extent_m: float
    max_extent_m: float
    length_unit: DisplayUnit
    depth_range_m: tuple[float, float]
    """Plausible median camera-to-scene depth; far outside it, depth is almost surely in the wrong unit."""


TIER_SPECS: dict[ScaleTier, TierSpec] = {
    ScaleTier.TINY_TABLETOP: TierSpec(tier=ScaleTier.TINY_TABLETOP, min_extent_m=0.0, max_extent_m=0.5,
                                      length_unit=DisplayUnit.MM, depth_range_m=(0.02, 2.0)),
    ScaleTier.TABLETOP: TierSpec(tier=ScaleTier.TABLETOP, min_extent_m=0.5, max_extent_m=3.0,
                                 length_unit=DisplayUnit.CM, depth_range_m=(0.1, 10.0)),
    ScaleTier.INDOOR: TierSpec(tier=ScaleTier.INDOOR, min_extent_m=3.0, max_extent_m=30.0,
                               length_unit=DisplayUnit.M, depth_range_m=(0.3, 60.0)),
    ScaleTier.OUTDOOR: TierSpec(tier=ScaleTier.OUTDOOR, min_extent_m=30.0, max_extent_m=1000.0,
                                length_unit=DisplayUnit.M, depth_range_m=(1.0, 3000.0)),
    ScaleTier.DRONE: TierSpec(tier=ScaleTier.DRONE, min_extent_m=100.0, max_extent_m=5000.0,
                              length_unit=DisplayUnit.M, depth_range_m=(20.0, 20000.0)),
}


def tier_from_extent(extent_m: float) -> ScaleTier:
    """Tier of a scene from its measured metric extent (used when the source gives no tier).

    Outdoor and drone ranges overlap (100 m – 1 km); by extent alone the overlap is outdoor,
    a drone tier needs either source metadata or an extent beyond 1 km.
    """
    if not extent_m > 0:
        raise ValueError(f"scene extent must be a positive number of metres, got {extent_m!r}")
    for tier in (ScaleTier.TINY_TABLETOP, ScaleTier.TABLETOP, ScaleTier.INDOOR, ScaleTier.OUTDOOR):
        if extent_m < TIER_SPECS[tier].max_extent_m:
            return tier
    return ScaleTier.DRONE


def depth_contradicts_tier(tier: ScaleTier, median_depth_m: float) -> bool:
    """True when a scene's median depth is implausible for its tier (depth given in the wrong unit)."""
    low, high = TIER_SPECS[tier].depth_range_m
    return not low <= median_depth_m <= high
