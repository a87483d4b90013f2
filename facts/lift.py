"""Lift metric depth + instance masks + camera poses into 3D object and room facts.

Per keyframe, masked depth is back-projected into the canonical frame; each object's points are fused over
keyframes, trimmed of outliers, and boxed: height along gravity, footprint oriented by the visible faces
(facts/footprint.py: the L of two faces a box often shows has a right-triangle outline, which a minimum-area
rectangle or PCA axes would lay along its hypotenuse).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from facts.canonical import canonical_from_world
from facts.footprint import MAX_VERTICAL_NZ, fit_footprint
from facts.sighted import bounds_from_points
from facts.visibility import clearly_seen
from schemas.annotations import Intrinsics
from schemas.facts import CameraFact, ObjectFact, ObjectObservation, Provenance, RoomFact, SightedBounds
from schemas.ingest import FrameRow
from schemas.tiers import TIER_SPECS, ScaleTier, depth_contradicts_tier, tier_from_extent

MAX_POINTS_PER_VIEW = 6000
OUTLIER_Z = 4.0
"""Points farther from the object's median than this many robust standard deviations are trimmed."""
GRID = 12
"""Cells per footprint side when measuring how much of an object's outline its points cover."""
OCCLUDER_MARGIN = 0.05
"""A neighbour outside the mask this much (relatively) nearer hides part of the object."""
PATCH_STEP = 0.10
"""Neighbouring pixels whose depths differ by less than this share lie on one continuous surface (a face seen at a
grazing angle steps a few per cent a pixel; a step across a depth edge, or a mixed pixel on it, is far larger). The
one rule for normals and surface patches alike: a car's side seen from behind steps 6 % a pixel, and with normals
held to 5 % it had no patch and the trim cut its far end (4.58 m lifted 3.93 m)."""
MAX_HIDDEN_BOUNDARY = 0.03
"""A view is complete when its silhouette is not cut by the image border and at most this share of its
boundary lies next to a nearer surface."""


class FactsError(ValueError):
    """Inputs that cannot be lifted (no valid depth, degenerate geometry); the message names the frame."""


@dataclass(frozen=True)
class Keyframe:
    """One keyframe's native or specialist inputs: metric depth (m), instance ids, camera-to-world pose."""

    frame_index: int
    depth_m: np.ndarray
    instance_ids: np.ndarray
    camera_to_world: np.ndarray


@dataclass
class _Accumulator:
    points: list[np.ndarray] = field(default_factory=list)
    normals: list[np.ndarray] = field(default_factory=list)
    surfaces: list[np.ndarray] = field(default_factory=list)
    complete: list[np.ndarray] = field(default_factory=list)
    observations: list[ObjectObservation] = field(default_factory=list)


@dataclass(frozen=True)
class LiftedScene:
    tier: ScaleTier
    tier_from: str
    extent_m: float
    objects: list[ObjectFact]
    room: RoomFact | None
    canonical_from_world: np.ndarray
    sighted_bounds: dict[int, SightedBounds] = field(default_factory=dict)
    """where each instance that shows in a keyframe with depth but is never lifted lies (facts/sighted.py)"""


def lift_scene(scene_id: str, source_tier: ScaleTier | None, categories: dict[int, str],
               keyframes: list[Keyframe], intrinsic: Intrinsics, up_world: np.ndarray, provenance: Provenance,
               store_mask: Callable[[np.ndarray], str | None]) -> LiftedScene:
    """Objects (and, indoors, the room) of one scene in its canonical frame, and the scene's tier: the source's
    tier when given (checked against the measured extent, which catches depth in the wrong unit), else the
    tier of the measured extent."""
    canonical = canonical_from_world(keyframes[0].camera_to_world, up_world)
    per_object: dict[int, _Accumulator] = {}
    small: dict[int, list[tuple[np.ndarray, np.ndarray]]] = {}  # instance → (points, depths) where seen small
    background: list[np.ndarray] = []
    background_normals: list[np.ndarray] = []
    depth_samples: list[np.ndarray] = []
    rng = _scene_rng(scene_id)
    n_surfaces = 0
    for kf in keyframes:
        points, normals, valid = _point_map(kf, intrinsic, canonical)
        if not valid.any():
            raise FactsError(f"frame {kf.frame_index}: depth has no valid value (all NaN, zero or negative)")
        depth_samples.append(kf.depth_m[valid][::97])
        ids = kf.instance_ids
        _sample_background(kf, points, normals, valid, rng, background, background_normals)
        for instance in np.unique(ids[ids > 0]):
            mask = ids == instance
            window = _window(mask)
            local, depth, local_valid = mask[window], kf.depth_m[window], valid[window]
            local_points, local_normals = points[window], normals[window]
            keep = local & local_valid
            observation = _observe(kf.frame_index, mask, window, depth, keep, store_mask)
            if observation is None:
                small.setdefault(int(instance), []).append((local_points[keep], depth[keep]))
                continue
            acc = per_object.setdefault(int(instance), _Accumulator())
            chosen = _choose(int(keep.sum()), rng)
            acc.points.append(local_points[keep][chosen])
            acc.normals.append(local_normals[keep][chosen])
            patches, n_patches = _surface_patches(depth, local, local_valid, local_normals, local_points[..., 2])
            acc.surfaces.append(np.where(patches[keep][chosen] > 0, patches[keep][chosen] + n_surfaces, -1))
            n_surfaces += n_patches
            acc.complete.append(np.full(len(chosen), observation.complete))
            acc.observations.append(observation)
    extent = _horizontal_extent(np.concatenate(background + [p for a in per_object.values() for p in a.points]))
    median_depth = float(np.median(np.concatenate(depth_samples)))
    if source_tier is not None and depth_contradicts_tier(source_tier, median_depth):
        low, high = TIER_SPECS[source_tier].depth_range_m
        raise FactsError(f"median depth {median_depth:.3g} m is implausible for tier {source_tier.value} "
                         f"({low:g}–{high:g} m): check the depth unit")
    tier = source_tier or tier_from_extent(extent)
    objects = [_object_fact(scene_id, instance, categories.get(instance, "object"), tier, acc, intrinsic.fy,
                            provenance)
               for instance, acc in sorted(per_object.items())]
    room = (_room(np.concatenate(background), np.concatenate(background_normals))
            if tier is ScaleTier.INDOOR else None)
    sighted = {instance: (np.concatenate([p for p, _ in seen]), np.concatenate([d for _, d in seen]))
               for instance, seen in small.items() if instance not in per_object}
    bounds = {instance: bounds_from_points(points, float(np.median(depths)))
              for instance, (points, depths) in sorted(sighted.items()) if len(points)}
    return LiftedScene(tier=tier, tier_from="metadata" if source_tier else "extent", extent_m=extent,
                       objects=objects, room=room, canonical_from_world=canonical, sighted_bounds=bounds)


def room_from_depth(scene_id: str, keyframes: list[Keyframe], intrinsic: Intrinsics,
                    canonical: np.ndarray) -> RoomFact | None:
    """The room (walls, floor, ceiling) of dense-depth keyframes whose objects are known otherwise (boxes): their
    instance ids may be all 0, since walls bound the outline whatever stands inside."""
    rng = _scene_rng(scene_id)
    points: list[np.ndarray] = []
    normals: list[np.ndarray] = []
    for kf in keyframes:
        _sample_background(kf, *_point_map(kf, intrinsic, canonical), rng, points, normals)
    return _room(np.concatenate(points), np.concatenate(normals)) if points else None


def _scene_rng(scene_id: str) -> np.random.Generator:
    """The point-sampling stream of a scene: the same scene samples the same points."""
    return np.random.default_rng(int.from_bytes(hashlib.sha256(scene_id.encode()).digest()[:8], "little"))


def _sample_background(kf: Keyframe, points: np.ndarray, normals: np.ndarray, valid: np.ndarray,
                       rng: np.random.Generator, into_points: list[np.ndarray], into_normals: list[np.ndarray]
                       ) -> None:
    """Append a sample of the keyframe's valid pixels of no instance (id 0): the room's surfaces."""
    background = valid & (kf.instance_ids == 0)
    chosen = _choose(int(background.sum()), rng)
    into_points.append(points[background][chosen])
    into_normals.append(normals[background][chosen])


def camera_facts(scene_id: str, video_id: str, frames: list[FrameRow], camera_to_world: np.ndarray,
                 intrinsics: Intrinsics, canonical_from_world: np.ndarray) -> list[CameraFact]:
    """The `cameras` rows of a scene's keyframes (frames and poses [K, 4, 4] in the same order), in its canonical
    frame."""
    k = intrinsics
    return [CameraFact(scene_id=scene_id, video_id=video_id, frame_index=f.frame_index, keyframe_rank=rank,
                       timestamp_s=f.timestamp_s, fx=k.fx, fy=k.fy, cx=k.cx, cy=k.cy, width=k.width, height=k.height,
                       camera_to_canonical=tuple((canonical_from_world @ pose).ravel().tolist()),
                       frame_path=f.path)
            for rank, (f, pose) in enumerate(zip(frames, camera_to_world, strict=True))]


def _point_map(kf: Keyframe, k: Intrinsics, canonical: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Canonical XYZ per pixel, unit surface normals (0 where unknown: a pixel's 4 neighbours must be valid, of its
    instance and under PATCH_STEP away in depth), and the valid-depth mask."""
    depth = kf.depth_m.astype(np.float64)
    valid = np.isfinite(depth) & (depth > 0)
    depth = np.where(valid, depth, 0.0)
    h, w = depth.shape
    u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    cam = np.stack([(u - k.cx) / k.fx * depth, (v - k.cy) / k.fy * depth, depth], axis=-1)
    transform = canonical @ kf.camera_to_world
    points = cam @ transform[:3, :3].T + transform[:3, 3]
    normals = np.zeros_like(points)
    same = valid[1:-1, 1:-1].copy()
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        neighbour = (slice(1 + dy, h - 1 + dy), slice(1 + dx, w - 1 + dx))
        same &= valid[neighbour] & (kf.instance_ids[neighbour] == kf.instance_ids[1:-1, 1:-1])
        same &= np.abs(depth[neighbour] - depth[1:-1, 1:-1]) < PATCH_STEP * depth[1:-1, 1:-1]
    n = np.cross(points[1:-1, 2:] - points[1:-1, :-2], points[2:, 1:-1] - points[:-2, 1:-1])
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    normals[1:-1, 1:-1] = np.where(same[..., None] & (norm > 0), n / np.maximum(norm, 1e-30), 0.0)
    return points, normals, valid


def _window(mask: np.ndarray) -> tuple[slice, slice]:
    """The mask's bounding box grown by one pixel, within the frame: where an instance's per-keyframe measures look,
    since none reaches more than one pixel past the mask; the mask touches the window's edge only at the frame's."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return slice(max(int(rows[0]) - 1, 0), int(rows[-1]) + 2), slice(max(int(cols[0]) - 1, 0), int(cols[-1]) + 2)


def _surface_patches(depth_m: np.ndarray, mask: np.ndarray, valid: np.ndarray, normals: np.ndarray,
                     heights: np.ndarray) -> tuple[np.ndarray, int]:
    """Label per pixel of the mask's pieces of continuous surface (pixels with a normal, which `_point_map` gives
    only where the 4 neighbours are in the mask with a depth step under PATCH_STEP, 4-connected, and the silhouette
    pixels next to them with such a step; 0: none) and the number of labels. Side faces count wherever they are;
    other faces (a top, a slope) only above the middle of the mask's heights in this view, and only where side faces
    hold them up: floor or table a mask bleeds onto lies at its base, and a flat object's plane (a field, a rug)
    continues into it. The arrays may be cut to the mask's `_window`."""
    h, w = mask.shape
    depth = np.where(valid, depth_m, 0.0)
    faced = mask & (np.abs(normals).sum(axis=-1) > 0)
    side = faced & (np.abs(normals[..., 2]) < MAX_VERTICAL_NZ)
    seen = heights[mask & valid]
    upper = faced & (heights > (seen.min() + seen.max()) / 2) if side.any() else np.zeros_like(mask)
    surface = (side | upper).astype(np.uint8)
    count, labels = cv2.connectedComponents(surface, connectivity=4)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):  # the silhouette's own pixels join the patch they continue
        here = (slice(1, h - 1), slice(1, w - 1))
        there = (slice(1 + dy, h - 1 + dy), slice(1 + dx, w - 1 + dx))
        joins = ((labels[here] == 0) & mask[here] & valid[here] & (labels[there] > 0) & surface[there].astype(bool)
                 & (np.abs(depth[there] - depth[here]) < PATCH_STEP * depth[here]))
        labels[here][joins] = labels[there][joins]
    return labels, count


def _observe(frame_index: int, mask: np.ndarray, window: tuple[slice, slice], depth_m: np.ndarray, keep: np.ndarray,
             store_mask: Callable[[np.ndarray], str | None]) -> ObjectObservation | None:
    """The observation of the whole-frame `mask`, measured in its `window` (depth and the mask's valid-depth pixels
    `keep` cut to it) but for its inmost point: OpenCV's float distance transform rounds by the image's layout, and a
    cut frame could move the point between near-equal maxima. None when seen too small or without depth."""
    local = mask[window]
    top, left = window[0].start, window[1].start
    ys, xs = np.nonzero(local)
    x1, x2, y1, y2 = left + xs.min(), left + xs.max() + 1, top + ys.min(), top + ys.max() + 1
    if not clearly_seen(y2 - y1, x2 - x1):  # skipped there (SPEC.md); its sighting still counts (facts/visibility)
        return None
    depths = depth_m[keep]
    if depths.size == 0:
        return None
    inner = cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, 3)
    py, px = np.unravel_index(int(np.argmax(inner)), inner.shape)
    return ObjectObservation(frame_index=frame_index, bbox_xyxy=(float(x1), float(y1), float(x2), float(y2)),
                             point_xy=(float(px) + 0.5, float(py) + 0.5), pixel_count=int(local.sum()),
                             median_depth_m=float(np.median(depths)), complete=_silhouette_complete(depth_m, local),
                             mask_path=store_mask(mask))


def _silhouette_complete(depth_m: np.ndarray, mask: np.ndarray) -> bool:
    """True when the mask's boundary is the object's own outline: nowhere cut by the image border, and at most
    a sliver of it next to a surface in front of the object (an occluder). The arrays may be cut to the mask's
    `_window`, whose edge stands for the image border."""
    height, width = mask.shape
    if mask[0].any() or mask[-1].any() or mask[:, 0].any() or mask[:, -1].any():
        return False
    depth = np.where(np.isfinite(depth_m) & (depth_m > 0), depth_m, np.inf)
    hidden = boundary = 0
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        ys, xs = np.nonzero(mask[1:-1, 1:-1] & ~mask[1 + dy:height - 1 + dy, 1 + dx:width - 1 + dx])
        ys, xs = ys + 1, xs + 1
        boundary += len(ys)
        hidden += int((depth[ys + dy, xs + dx] < depth[ys, xs] * (1 - OCCLUDER_MARGIN)).sum())
    return boundary > 0 and hidden <= MAX_HIDDEN_BOUNDARY * boundary


def _object_fact(scene_id: str, instance: int, category: str, tier: ScaleTier, acc: _Accumulator, fy: float,
                 provenance: Provenance) -> ObjectFact:
    points, normals = np.concatenate(acc.points), np.concatenate(acc.normals)
    complete = np.concatenate(acc.complete)
    keep = _inliers(points, np.concatenate(acc.surfaces))
    points, normals, complete = points[keep], normals[keep], complete[keep]
    bottom, top = float(points[:, 2].min()), float(points[:, 2].max())
    footprint = fit_footprint(points[:, :2], normals)
    (cx, cy), yaw, length, width = footprint.centre, footprint.yaw_deg, footprint.length, footprint.width
    coverage = _footprint_coverage(points[complete], normals[complete], np.array([cx, cy]), yaw, length, width)
    first = min(o.frame_index for o in acc.observations)
    nearest = min((o.median_depth_m for o in acc.observations if o.complete), default=math.inf)
    return ObjectFact(
        scene_id=scene_id, object_id=f"{scene_id}/{instance}", instance_id=instance, category=category,
        scale=tier, center=(float(cx), float(cy), (bottom + top) / 2),
        size_lwh=(float(length), float(width), top - bottom), yaw_deg=float((yaw + 90.0) % 180.0 - 90.0),
        bottom_z=bottom, top_z=top, height_px=(top - bottom) * fy / nearest, n_points=int(len(points)),
        n_keyframes_seen=len(acc.observations),
        n_complete_views=sum(o.complete for o in acc.observations),
        first_seen_frame=first, footprint_coverage=coverage, footprint_ambiguous=footprint.ambiguous,
        observations=acc.observations, provenance=provenance)


def _inliers(points: np.ndarray, surfaces: np.ndarray) -> np.ndarray:
    """Robust trimming: drop points whose distance to the median is an outlier (MAD-scaled z-score), unless a
    continuous surface joins them to the inliers (`surfaces`: a point's surface patch, -1 for none).

    The statistics run over occupied voxels, not raw points: surfaces seen up close hold far more points than
    ones seen at a distance or a grazing angle, and raw-point statistics would trim those true extents away. Even
    over voxels, the far end of a long face seen beside a short one scores as an outlier (an L is no blob): a
    patch of pixels joined without a depth jump in one view (`_surface_patches`) is one surface, kept whole when any
    of it is an inlier; stray points (mask bleed onto the floor, pixels across a depth edge) lie on no such patch.
    """
    span = np.percentile(points, 95, axis=0) - np.percentile(points, 5, axis=0)
    voxel = max(float(span.max()) / 40.0, 1e-9)
    keys, inverse = np.unique(np.floor(points / voxel).astype(np.int64), axis=0, return_inverse=True)
    centres = (keys + 0.5) * voxel
    distance = np.linalg.norm(centres - np.median(centres, axis=0), axis=1)
    mad = np.median(np.abs(distance - np.median(distance))) * 1.4826
    if mad == 0:
        return np.ones(len(points), dtype=bool)
    kept = ((distance - np.median(distance)) / mad < OUTLIER_Z)[inverse]
    joined = np.isin(surfaces, surfaces[kept & (surfaces >= 0)]) & (surfaces >= 0)
    return kept | joined


def _footprint_coverage(points: np.ndarray, normals: np.ndarray, centre: np.ndarray, yaw_deg: float,
                        length: float, width: float) -> float:
    """How well points from complete views pin the footprint down: the top face seen across the footprint, or two
    adjacent side faces seen along their whole length (in a complete view a visible face of a box is seen whole;
    an L of two faces fixes a box's footprint, a single face does not)."""
    if length <= 0 or width <= 0 or len(points) == 0:
        return 0.0
    yaw = np.radians(yaw_deg)
    axes = np.array([[np.cos(yaw), np.sin(yaw)], [-np.sin(yaw), np.cos(yaw)]])
    local = (points[:, :2] - centre) @ axes.T / np.array([length, width]) + 0.5
    cells = np.clip((local * GRID).astype(int), 0, GRID - 1)
    up = np.abs(normals[:, 2])
    top = up > 0.8
    top_cover = len(set(map(tuple, cells[top]))) / GRID**2
    side = (up < 0.3) & (np.linalg.norm(normals[:, :2], axis=1) > 0)
    facing = np.abs(normals[side][:, :2] @ axes.T)
    along_u = cells[side][facing[:, 0] > 0.8]  # faces at ±length/2, they run along the width axis
    along_v = cells[side][facing[:, 1] > 0.8]
    cover_u = len(np.unique(along_u[:, 1])) / GRID if len(along_u) else 0.0
    cover_v = len(np.unique(along_v[:, 0])) / GRID if len(along_v) else 0.0
    return float(min(1.0, max(top_cover, min(cover_u, cover_v))))


def _room(points: np.ndarray, normals: np.ndarray) -> RoomFact | None:
    """Floor outline from the walls (vertical surfaces between floor and ceiling), height from the ceiling."""
    floor_mask = np.abs(normals[:, 2]) > 0.9
    if not floor_mask.any():
        return None
    floor_z = float(np.percentile(points[floor_mask][:, 2], 5))
    walls = points[(np.abs(normals[:, 2]) < 0.2) & (points[:, 2] > floor_z + 0.3)]
    if len(walls) < 100:
        return None
    (cx, cy), (side_a, side_b), angle = cv2.minAreaRect(walls[:, :2].astype(np.float32))
    if _wall_sides_seen(walls, np.array([cx, cy]), angle, side_a, side_b) < 4:
        return None
    ceiling = points[floor_mask & (points[:, 2] > floor_z + 1.8)]
    height = float(np.median(ceiling[:, 2]) - floor_z) if len(ceiling) > 200 else None
    area = float(side_a * side_b)
    return RoomFact(floor_area_m2=area, length_m=float(max(side_a, side_b)), width_m=float(min(side_a, side_b)),
                    height_m=height, volume_m3=area * height if height else None, center=(float(cx), float(cy)),
                    yaw_deg=float(angle if side_a >= side_b else angle + 90.0))


def _wall_sides_seen(walls: np.ndarray, centre: np.ndarray, angle: float, side_a: float, side_b: float) -> int:
    """How many of the outline's four sides have wall points along at least half their length."""
    yaw = np.radians(angle)
    axes = np.array([[np.cos(yaw), np.sin(yaw)], [-np.sin(yaw), np.cos(yaw)]])
    local = (walls[:, :2] - centre) @ axes.T / np.array([side_a, side_b])
    near = 0.05
    seen = 0
    for axis in (0, 1):
        for sign in (-0.5, 0.5):
            on_side = np.abs(local[:, axis] - sign) < near
            cells = np.unique(np.clip(((local[on_side, 1 - axis] + 0.5) * GRID).astype(int), 0, GRID - 1))
            seen += len(cells) >= GRID // 2
    return seen


def _horizontal_extent(points: np.ndarray) -> float:
    """Diagonal of the 1st–99th percentile box of the points' floor projection (robust to stray far points)."""
    low, high = np.percentile(points[:, :2], [1, 99], axis=0)
    return float(np.hypot(*(high - low)))


def _choose(n: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= MAX_POINTS_PER_VIEW else np.sort(rng.choice(n, MAX_POINTS_PER_VIEW, replace=False))

