"""What a source's discovery yields: one item to curate."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from schemas.tiers import ScaleTier


@dataclass(frozen=True)
class VideoItem:
    """One video to curate: where it is, which adapter found it, and its annotation directory if any."""

    uri: str  # relative to the data root, posix
    path: Path
    source: str
    scene_id: str
    annotations_dir: Path | None = None
    tier: ScaleTier | None = None  # when the source states it (a manifest row, a tier-named folder)


def tier_hint(uri: str) -> ScaleTier | None:
    """The tier named by the nearest enclosing folder of a data-root-relative posix path, if any."""
    tiers = {tier.value: tier for tier in ScaleTier}
    return next((tiers[part] for part in reversed(uri.split("/")[:-1]) if part in tiers), None)
