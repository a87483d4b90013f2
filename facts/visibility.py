"""Pixel-level visibility of instances over a video's frames: when each first shows at all, and when first clearly.

Facts lift or keep an object only where its mask box is at least 20×20 px in some keyframe; questions about what
"appears in the video" must also know the instances that show smaller than that (a far car, a thin remote), so
a count or an order that would hinge on one of them can be dropped instead of answered wrongly.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from schemas.facts import Sighting

MIN_BOX_SIDE_PX = 20
"""An instance is clearly seen in a frame where its mask box is at least 20×20 px (SPEC.md)."""


def clearly_seen(height_px: float, width_px: float) -> bool:
    return height_px >= MIN_BOX_SIDE_PX and width_px >= MIN_BOX_SIDE_PX


def sightings_from_masks(frames: Iterable[tuple[int, np.ndarray]], categories: dict[int, str]) -> list[Sighting]:
    """Sightings of every instance id > 0 in (frame index, instance-id mask [H, W]) pairs, in time order; an id
    without a category is named 'object'."""
    first: dict[int, int] = {}
    clear: dict[int, int] = {}
    count: dict[int, int] = {}
    for frame_index, ids in frames:
        ys, xs = np.nonzero(ids)
        if not len(ys):
            continue
        instance = ids[ys, xs].astype(np.int64)
        present = np.unique(instance)
        slot = np.searchsorted(present, instance)
        extent = []
        for coords in (xs, ys):
            low = np.full(len(present), np.iinfo(np.int64).max)
            high = np.full(len(present), -1)
            np.minimum.at(low, slot, coords)
            np.maximum.at(high, slot, coords)
            extent.append(high + 1 - low)
        for value, width, height in zip(present.tolist(), *extent, strict=True):
            first.setdefault(value, frame_index)
            count[value] = count.get(value, 0) + 1
            if clearly_seen(height, width):
                clear.setdefault(value, frame_index)
    return [Sighting(instance_id=i, category=categories.get(i, "object"), first_frame=first[i],
                     first_clear_frame=clear.get(i), n_frames=count[i]) for i in sorted(first)]
