"""Adapter for a plain folder of videos with no annotations."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from schemas.annotations import SCENE_FILE
from sources.discovery import VideoItem

SOURCE = "video_folder"
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")


def discover(root: Path) -> Iterator[VideoItem]:
    """Video files under `root` that are not part of an annotated scene directory."""
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES):
        if (path.parent / SCENE_FILE).exists():
            continue
        uri = path.relative_to(root).as_posix()
        scene_id = uri.rsplit(".", 1)[0].replace("/", "__")
        yield VideoItem(uri=uri, path=path, source=SOURCE, scene_id=scene_id)
