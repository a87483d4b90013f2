"""Where an instance that shows but is never lifted lies, conservatively: the box planners must keep clear of.

An instance seen under 20×20 px in every keyframe is not an object of the facts (its size and centre would be
guesses), yet it stands on the table all the same: a plan through it, or a slide said to pass it, would be wrong.
Its seen points (mask pixels × depth, every keyframe) bound the visible surface; the object reaches behind that
surface by an unknown amount, taken as at most its largest seen extent, and depth errs by a few percent of the
range. The bounding rectangle of the points is therefore grown on every side by the larger of the two.
"""

from __future__ import annotations

import cv2
import numpy as np

from schemas.facts import SightedBounds

DEPTH_SLACK = 0.05
"""Growth of at least 5% of the median distance to the seen points (depth error, mask edges)."""


def bounds_from_points(points: np.ndarray, distance_m: float) -> SightedBounds:
    """A gravity-aligned box holding the instance whose seen points (canonical frame, (N, 3), N ≥ 1) lie at a
    median distance `distance_m` from the cameras."""
    (cx, cy), (a, b), angle = cv2.minAreaRect(np.asarray(points[:, :2], dtype=np.float32))
    bottom, top = float(points[:, 2].min()), float(points[:, 2].max())
    grow = max(a, b, top - bottom, DEPTH_SLACK * distance_m)
    length, width = max(a, b) + 2.0 * grow, min(a, b) + 2.0 * grow
    yaw = angle if a >= b else angle + 90.0
    return SightedBounds(center=(float(cx), float(cy), (bottom + top) / 2.0),
                         size_lwh=(float(length), float(width), top - bottom + 2.0 * grow),
                         yaw_deg=float((yaw + 90.0) % 180.0 - 90.0))
