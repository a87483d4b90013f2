"""Adapter for a plain folder of videos with no annotations.

Tier hint: the nearest folder between a video and the data root named after a tier (`tiny_tabletop`, `tabletop`,
`indoor`, `outdoor`, `drone`) gives the video's tier, e.g. `<root>/drone/survey/a.mp4` is a drone video; a video with
no such folder gets its tier from its measured extent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from schemas.annotations import SCENE_FILE
from schemas.tiers import ScaleTier
from sources.discovery import VideoItem

SOURCE = "video_folder"
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")


def discover(root: Path) -> Iterator[VideoItem]:
    """Video files under `root` that are not part of an annotated scene directory."""
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES):
        if (path.parent / SCENE_FILE).exists():
            continue
        uri = path.relative_to(root).as_posix()
        yield VideoItem(uri=uri, path=path, source=SOURCE, scene_id=scene_id_for(uri), tier=tier_hint(uri))


def scene_id_for(uri: str) -> str:
    """A plain video's scene id: its path under the data root without the suffix, folders joined by '__'."""
    return uri.rsplit(".", 1)[0].replace("/", "__")


def tier_hint(uri: str) -> ScaleTier | None:
    """The tier named by the nearest enclosing folder of a data-root-relative posix path, if any."""
    tiers = {tier.value: tier for tier in ScaleTier}
    return next((tiers[part] for part in reversed(uri.split("/")[:-1]) if part in tiers), None)
