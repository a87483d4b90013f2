"""What a source adapter yields, and the data-root check every input path goes through."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from schemas.tiers import ScaleTier


class OutsideDataRootError(ValueError):
    """An input path (after resolving symlinks) lies outside the configured data root."""


@dataclass(frozen=True)
class VideoItem:
    """One video to curate: where it is, which adapter found it, and its annotation directory if any."""

    uri: str  # relative to the data root, posix
    path: Path
    source: str
    scene_id: str
    annotations_dir: Path | None = None
    tier: ScaleTier | None = None  # when the source states it (a manifest row, a tier-named folder)


def inside_root(root: Path, path: Path) -> Path:
    """`path` resolved (symlinks followed); raises OutsideDataRootError when it escapes `root`."""
    resolved, base = path.resolve(), root.resolve()
    if not resolved.is_relative_to(base):
        raise OutsideDataRootError(f"{path} resolves to {resolved}, outside the data root {base}")
    return resolved
