"""The registered sources, looked up by name, and discovery over a data root (one source, or auto-detected)."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from itertools import chain
from pathlib import Path

from sources.contract import _SOURCES, Source
from sources.discovery import VideoItem

SOURCE_MODULES = ("sources.wildrgbd", "sources.arkitscenes", "sources.dl3dv", "sources.nuscenes",
                  "sources.annotated", "sources.video_folder")
"""Every source module, in auto-detection order: dataset layouts first, then the annotated layout, then plain
videos (which claim only what no earlier source claimed)."""


class UnknownSourceError(ValueError):
    """A source name that is not registered."""


class NoItemsError(ValueError):
    """A data root in which no source finds anything to curate."""


def load_all_sources() -> dict[str, Source]:
    """Import every source module (each registers itself) and return the registry, in detection order."""
    for module in SOURCE_MODULES:
        importlib.import_module(module)
    order = [module.rsplit(".", 1)[1] for module in SOURCE_MODULES]
    return dict(sorted(_SOURCES.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def get_source(name: str) -> Source:
    sources = load_all_sources()
    if name not in sources:
        raise UnknownSourceError(f"unknown source {name!r}; registered: {', '.join(sources)}")
    return sources[name]


def discover(root: Path, source: str | None = None) -> Iterator[VideoItem]:
    """The items under `root`: every item of the named source, or, auto-detected, the items of every source whose
    layout is present, in detection order, skipping any item that lies inside a folder an earlier item claimed.
    Read lazily; NoItemsError at once when there is none (an empty or mistyped data root is not a run)."""
    items = _items(root, source)
    first = next(items, None)
    if first is None:
        looked = f"source {source!r}" if source else f"any source ({', '.join(load_all_sources())})"
        raise NoItemsError(f"data root {root}: nothing to curate: no video or scene found by {looked}")
    return chain([first], items)


def _items(root: Path, source: str | None) -> Iterator[VideoItem]:
    if source is not None:
        yield from get_source(source).discover(root)
        return
    claimed: set[Path] = set()  # by earlier sources
    for candidate in load_all_sources().values():
        if not candidate.detect(root):
            continue
        claims = set()
        for item in candidate.discover(root):
            if any(parent in claimed for parent in (item.path, *item.path.parents)):
                continue
            claims.add(item.annotations_dir or item.path)
            yield item
        claimed |= claims
