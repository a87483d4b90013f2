"""Facts from a dataset's own 3D boxes (ARKitScenes, nuScenes): sizes and centres are the boxes', exactly.

What a keyframe shows of a box is decided per pixel, never by the frustum alone: each pixel's ray is cast against
every box (the nearest box wins, except that a box does not hide what lies inside it: an open shelf's books), and a
pixel where the sensor's depth lies clearly in front of the box surface is hidden by something unannotated (a wall,
a person). With sparse depth (LiDAR), the neighbourhood of each such hidden sample is hidden too. A visual prompt or
a mask is therefore drawn only where the object is seen.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np

from facts.canonical import canonical_from_world
from facts.visibility import clearly_seen, sightings_from_masks
from schemas.annotations import Intrinsics
from schemas.facts import ObjectFact, ObjectObservation, Provenance, SightedBounds, Sighting
from schemas.tiers import ScaleTier, tier_from_extent
OCCLUSION_MARGIN = 0.05
"""Sensor depth this much (relatively) nearer than the box surface means the box is hidden at that pixel."""
MAX_GRID_WIDTH = 480
"""Visibility is cast on a grid at most this many cells wide (one cell per pixel for small frames)."""
SPARSE_HIDE_RADIUS = 3
"""Grid cells around a hidden sparse-depth sample that are taken as hidden too."""
COMPLETE_SHARE = 0.97
"""A view is complete when the box lies wholly in the frame and this share of its projection is visible."""


class Box(Protocol):
    instance_id: int
    category: str
    center: np.ndarray
    size: np.ndarray
    rotation: np.ndarray

    def corners(self) -> np.ndarray: ...


@dataclass(frozen=True)
class BoxView:
    """One keyframe's camera, with the sensor depth (dense or sparse, 0 = none) where the source has it."""

    frame_index: int
    camera_to_world: np.ndarray
    depth_m: np.ndarray | None


@dataclass(frozen=True)
class BoxFacts:
    objects: list[ObjectFact]
    canonical_from_world: np.ndarray
    extent_m: float
    tier: ScaleTier
    sightings: list[Sighting]
    """every box that shows at pixel level in a keyframe, those seen under 20×20 px too (their box as bounds)"""


def box_scene_facts(scene_id: str, tier: ScaleTier | None, boxes: Sequence[Box], views: list[BoxView], k: Intrinsics,
                    up_world: np.ndarray, depth_dense: bool, provenance: Provenance,
                    store_mask: Callable[[np.ndarray], str | None]) -> BoxFacts:
    """Object facts from native boxes, observed per keyframe by visibility; boxes never seen are left out. The tier
    is the source's, else that of the extent of the seen boxes and the cameras."""
    canonical = canonical_from_world(views[0].camera_to_world, up_world)
    observations: dict[int, list[ObjectObservation]] = {box.instance_id: [] for box in boxes}
    visible: list[tuple[int, np.ndarray]] = []
    containers = _containers(boxes)
    for view in views:
        seen, ids = _observe_view(boxes, containers, view, k, depth_dense, store_mask)
        visible.append((view.frame_index, ids))
        for instance, observation in seen.items():
            observations[instance].append(observation)
    seen = [box for box in boxes if observations[box.instance_id]]
    points = [c for box in seen for c in box.corners()] + [v.camera_to_world[:3, 3] for v in views]
    flat = (np.asarray(points) @ canonical[:3, :3].T)[:, :2]
    extent = max(float(np.hypot(*np.ptp(flat, axis=0))), 1e-6)
    tier = tier or tier_from_extent(extent)
    objects = [_object_fact(scene_id, tier, box, observations[box.instance_id], canonical, k.fy, provenance)
               for box in seen]
    lifted = {box.instance_id for box in seen}
    exact = {box.instance_id: SightedBounds(**_in_canonical(box, canonical)) for box in boxes}
    sightings = [s if s.instance_id in lifted else s.model_copy(update={"bounds": exact[s.instance_id]})
                 for s in sightings_from_masks(visible, {box.instance_id: box.category for box in boxes})]
    return BoxFacts(objects=objects, canonical_from_world=canonical, extent_m=extent, tier=tier, sightings=sightings)


def _observe_view(boxes: Sequence[Box], containers: list[list[int]], view: BoxView, k: Intrinsics, depth_dense: bool,
                  store_mask: Callable[[np.ndarray], str | None]
                  ) -> tuple[dict[int, ObjectObservation], np.ndarray]:
    """The boxes observed in one view (seen ≥ 20×20 px), and the instance id seen at each pixel (0: none);
    `containers`: per box, the boxes it lies in (`_containers`)."""
    step = max(1, math.ceil(k.width / MAX_GRID_WIDTH))
    us = np.arange(0, k.width, step) + step / 2.0
    vs = np.arange(0, k.height, step) + step / 2.0
    u, v = np.meshgrid(us, vs)
    rays_cam = np.stack([(u - k.cx) / k.fx, (v - k.cy) / k.fy, np.ones_like(u)], axis=-1)  # z = 1: t is depth
    rotation, origin = view.camera_to_world[:3, :3], view.camera_to_world[:3, 3]
    rays = rays_cam @ rotation.T
    hits = [_ray_box(origin, rays, box) for box in boxes]
    nearest = np.min(hits, axis=0) if hits else np.full(u.shape, np.inf)
    sensor = _sensor_grid(view.depth_m, u.shape, step, k, depth_dense)
    hidden = _hidden_by_sensor(sensor, nearest, depth_dense)
    grid_ids = np.zeros(u.shape, np.int64)
    seen_by_box = []
    for index in range(len(boxes)):  # what a box holds (an open shelf's books, a bowl's fruit) shows through it
        if containers[index]:
            blocking = np.min([t for i, t in enumerate(hits) if i not in containers[index]], axis=0)
            hidden_here = _hidden_by_sensor(sensor, hits[index], depth_dense)
        else:
            blocking, hidden_here = nearest, hidden
        seen_by_box.append(np.isfinite(hits[index]) & (hits[index] <= blocking) & ~hidden_here)
    for index in sorted(range(len(boxes)), key=lambda i: -float(np.prod(boxes[i].size))):  # inner boxes last
        grid_ids[seen_by_box[index]] = boxes[index].instance_id
    visible = _full_resolution(grid_ids, step, k)
    out = {}
    for index, box in enumerate(boxes):
        seen = grid_ids == box.instance_id
        if not seen.any():
            continue
        mask = _full_resolution(seen, step, k)
        ys, xs = np.nonzero(mask)
        x1, x2, y1, y2 = int(xs.min()), int(xs.max()) + 1, int(ys.min()), int(ys.max()) + 1
        if not clearly_seen(y2 - y1, x2 - x1):
            continue
        inner = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
        py, px = np.unravel_index(int(np.argmax(inner)), inner.shape)
        in_frame = _inside_frame(box.corners(), view.camera_to_world, k)
        complete = in_frame and seen.sum() >= COMPLETE_SHARE * np.isfinite(hits[index]).sum()
        out[box.instance_id] = ObjectObservation(
            frame_index=view.frame_index, bbox_xyxy=(float(x1), float(y1), float(x2), float(y2)),
            point_xy=(float(px) + 0.5, float(py) + 0.5), pixel_count=int(mask.sum()),
            median_depth_m=float(np.median(hits[index][seen])), complete=bool(complete), mask_path=store_mask(mask))
    return out, visible


def _containers(boxes: Sequence[Box]) -> list[list[int]]:
    """Per box, the indices of the other boxes it lies wholly inside (`_contains`): they do not hide it."""
    return [[i for i, outer in enumerate(boxes) if i != index and _contains(outer, box)]
            for index, box in enumerate(boxes)]


def _contains(outer: Box, inner: Box) -> bool:
    """True when every corner of `inner` lies inside `outer` (1 mm of slack)."""
    local = (inner.corners() - outer.center) @ outer.rotation
    return bool((np.abs(local) <= outer.size / 2.0 + 1e-3).all())


def _ray_box(origin: np.ndarray, rays: np.ndarray, box: Box) -> np.ndarray:
    """Entry parameter of each ray into the box (slab test in the box's frame); inf where it misses or the
    camera is inside."""
    local_origin = box.rotation.T @ (origin - box.center)
    local_rays = rays @ box.rotation
    half = box.size / 2.0
    low, high = -np.inf, np.inf
    for axis in range(3):  # one slab at a time: a reduction over the last axis of [..., 3] arrays is slow
        with np.errstate(divide="ignore", invalid="ignore"):
            t1 = (-half[axis] - local_origin[axis]) / local_rays[..., axis]
            t2 = (half[axis] - local_origin[axis]) / local_rays[..., axis]
        low = np.maximum(low, np.where(np.isnan(t1), -np.inf, np.minimum(t1, t2)))
        high = np.minimum(high, np.where(np.isnan(t2), np.inf, np.maximum(t1, t2)))
    return np.where((low <= high) & (low > 0), low, np.inf)


def _sensor_grid(depth_m: np.ndarray | None, shape: tuple[int, int], step: int, k: Intrinsics,
                 dense: bool) -> np.ndarray | None:
    """The sensor depth per cell of a grid of `shape` (sparse depth: the nearest sample in the cell, inf for none);
    None without depth."""
    if depth_m is None:
        return None
    if dense:
        rows = np.minimum((np.arange(shape[0]) * step + step // 2), k.height - 1)
        cols = np.minimum((np.arange(shape[1]) * step + step // 2), k.width - 1)
        return depth_m[np.ix_(rows, cols)].astype(float)
    sensor = np.full(shape, np.inf)  # every sample of a grid cell counts, not only the one at its centre
    ys, xs = np.nonzero(np.isfinite(depth_m) & (depth_m > 0))
    cells = (np.minimum(ys // step, shape[0] - 1), np.minimum(xs // step, shape[1] - 1))
    np.minimum.at(sensor, cells, depth_m[ys, xs].astype(float))
    return sensor


def _hidden_by_sensor(sensor: np.ndarray | None, nearest: np.ndarray, dense: bool) -> np.ndarray:
    """Grid cells where the sensor (`_sensor_grid`) saw a surface clearly in front of the nearest box."""
    if sensor is None:
        return np.zeros(nearest.shape, dtype=bool)
    valid = np.isfinite(sensor) & (sensor > 0)
    hidden = valid & np.isfinite(nearest) & (sensor < nearest * (1.0 - OCCLUSION_MARGIN))
    if not dense and hidden.any():
        size = 2 * SPARSE_HIDE_RADIUS + 1
        hidden = cv2.dilate(hidden.astype(np.uint8), np.ones((size, size), np.uint8)).astype(bool)
        hidden &= ~(valid & (sensor >= nearest * (1.0 - OCCLUSION_MARGIN)))  # a sample on the box shows it
    return hidden


def _full_resolution(grid_mask: np.ndarray, step: int, k: Intrinsics) -> np.ndarray:
    if step == 1:
        return grid_mask
    return np.repeat(np.repeat(grid_mask, step, axis=0), step, axis=1)[:k.height, :k.width]


def _inside_frame(corners_world: np.ndarray, camera_to_world: np.ndarray, k: Intrinsics) -> bool:
    local = (corners_world - camera_to_world[:3, 3]) @ camera_to_world[:3, :3]
    if (local[:, 2] <= 0).any():
        return False
    u = k.fx * local[:, 0] / local[:, 2] + k.cx
    v = k.fy * local[:, 1] / local[:, 2] + k.cy
    return bool((u >= 0).all() and (u <= k.width).all() and (v >= 0).all() and (v <= k.height).all())


def _object_fact(scene_id: str, tier: ScaleTier, box: Box, observations: list[ObjectObservation],
                 canonical: np.ndarray, fy: float, provenance: Provenance) -> ObjectFact:
    """The box in the canonical frame (`_in_canonical`), observed in `observations`."""
    placed = _in_canonical(box, canonical)
    corners = (canonical[:3, :3] @ box.corners().T).T + canonical[:3, 3]
    height = placed["size_lwh"][2]
    nearest = min(o.median_depth_m for o in observations)
    return ObjectFact(
        scene_id=scene_id, object_id=f"{scene_id}/{box.instance_id}", instance_id=box.instance_id,
        category=box.category, scale=tier, **placed,
        bottom_z=float(corners[:, 2].min()), top_z=float(corners[:, 2].max()),
        height_px=height * fy / nearest, n_points=1, n_keyframes_seen=len(observations),
        n_complete_views=sum(o.complete for o in observations),
        first_seen_frame=min(o.frame_index for o in observations), footprint_coverage=1.0,
        observations=observations, provenance=provenance, from_box=True)


def _in_canonical(box: Box, canonical: np.ndarray) -> dict:
    """Centre, (length, width, height) and yaw of the box in the canonical frame: the axis nearest gravity is its
    height, the longer other one its length."""
    axes = canonical[:3, :3] @ box.rotation  # columns: box axes in canonical coordinates
    vertical = int(np.argmax(np.abs(axes[2])))
    horizontal = [i for i in range(3) if i != vertical]
    length_axis, width_axis = sorted(horizontal, key=lambda i: -box.size[i])
    centre = canonical[:3, :3] @ box.center + canonical[:3, 3]
    direction = axes[:, length_axis]
    yaw = float(np.degrees(np.arctan2(direction[1], direction[0])))
    return {"center": tuple(float(c) for c in centre),
            "size_lwh": (float(box.size[length_axis]), float(box.size[width_axis]), float(box.size[vertical])),
            "yaw_deg": (yaw + 90.0) % 180.0 - 90.0}
