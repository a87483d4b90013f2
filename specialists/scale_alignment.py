"""Metric scale for an up-to-scale SfM reconstruction: a robust ratio against metric depth, or per-category size
priors when no metric depth exists. Each estimate carries its spread (relative MAD), a calibrated uncertainty and,
for a reconstruction too weak to trust, the reason; both gate metric QA.

The spread of the per-point ratios says how well the depth agrees with the points, not how far the scale is off: a
reconstruction from a short baseline can be consistent with the depth and still have its translations a few percent
short (rotation and focal errors of a fraction of a pixel, magnified by depth over baseline). The uncertainty
therefore also carries that conditioning term (reprojection error over focal length times scene depth over
baseline), a term for the keyframes SfM failed to register, and one for rotations that are not the scene's (the
cameras' up disagreeing with the ground the points lie on), each with a factor fitted on synthetic scenes whose true
scale is known, so that the true scale error lies within the uncertainty in at least 95 % of them
(`benchmarks.scale_calibration` measures it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from specialists.sfm import SfMError, SfMReconstruction, dominant_plane, up_direction

MIN_DEPTH_POINTS = 20
"""Fewer SfM points landing on valid depth than this give no depth-ratio scale."""
EDGE_SPREAD = 0.03
"""A point whose 3×3 depth neighbourhood spreads more than this (relatively) lies on a depth edge: not sampled."""
MIN_OBJECT_POINTS = 8
"""An object needs this many SfM points inside its masks to measure its size in SfM units."""
SIZE_PRIOR_SPREAD = 0.25
"""Relative spread of real object sizes around a category's typical size: the least uncertainty a size-prior
scale can claim, however well the objects agree."""
MIN_REGISTERED = 3
"""A reconstruction registering fewer keyframes than this is too weak to scale metric answers by."""
MIN_REGISTERED_SHARE = 0.5
"""Nor one registering less than this share of its keyframes (the rest of the video went unseen or failed)."""
MIN_BASELINE_RATIO = 0.05
"""Nor one whose widest camera baseline is under this share of the scene's median depth (a turn on the spot)."""
MIN_TURN_DEG = 5.0
"""Nor one whose cameras all look the same way (optical axes within this angle: a nadir flight, a push-in): a camera
that only translates leaves its focal length unobservable, and SfM may trade it against depth, stretching every
distance across the view against the depth it was scaled by (a nadir drone flight: focal +156 %, distances 61 % off,
depth ratios agreeing within 0.1 %)."""
MAX_RATIO_SPREAD = 0.05
"""Nor one whose ratios to measured depth (a sensor's, an annotation's) spread more than this (relative MAD): a sound
reconstruction agrees with such depth within 1 % on every synthetic tier; beyond 5 % its shape, and so its poses,
are not the scene's (forward motion: SfM turned cameras 30–65° that never turned). A depth model's own errors spread
the ratios too, so its depth is not held to this."""
CONDITIONING_FACTOR = 16.0
"""Scale error per unit of (reprojection px / focal px) × (median depth / widest baseline)."""
UNREGISTERED_FACTOR = 0.3
"""Scale error per unregistered share of the keyframes: where SfM lost frames, the frames it kept drift too."""
GRAVITY_FACTOR = 1.5
"""Scale error per radian between the reconstruction's two cues to gravity: the up its cameras give (right axes
level, `sfm.up_direction`) and the normal of its dominant near-level plane (ground, floor, table). A reconstruction
whose rotations are off by a few degrees can agree with the depth point by point (relative MAD under 1 %) and still
have its camera centres 3–9 % too far apart (wide set, four SfM runs: the three scenes outside the other terms
disagree by 2.0–4.7°, every other by at most 1.0°; default-style scenes by at most 0.5°)."""
MAX_GROUND_TILT_DEG = 30.0
"""The dominant plane is sought among planes within this angle of the cameras' up (not walls)."""
MIN_GROUND_SHARE = 0.4
"""It must hold this share of the points (within PLANE_TOLERANCE): a scene without a ground in view gives no cue, and
a thin slab through several surfaces at different heights (indoor furniture: tilted 2–3.5° in true coordinates too)
is no ground."""
UNCERTAINTY_FLOOR = 0.02
"""The least uncertainty an SfM scale claims, however well conditioned. The factors and the floor are fitted on
synthetic scenes of every tier so that their true scale errors lie within the uncertainty (benchmarks.scale_calibration;
its --wide set for the gravity term)."""
SIZE_PRIORS_M: dict[str, float] = {
    "person": 1.7, "car": 4.5, "truck": 8.0, "bus": 12.0, "bicycle": 1.7, "motorcycle": 2.1, "boat": 6.0,
    "bench": 1.5, "chair": 0.9, "couch": 2.0, "sofa": 2.0, "bed": 2.0, "dining table": 1.5, "table": 1.3,
    "tv": 1.0, "laptop": 0.34, "keyboard": 0.44, "cell phone": 0.15, "phone": 0.15, "book": 0.23, "cup": 0.1,
    "bottle": 0.25, "bowl": 0.16, "potted plant": 0.6, "plant": 1.2, "refrigerator": 1.8, "oven": 0.8,
    "microwave": 0.5, "sink": 0.6, "toilet": 0.7, "clock": 0.3, "vase": 0.3, "lamp": 0.5, "wardrobe": 2.0,
    "box": 0.3, "house": 12.0, "building": 20.0, "tree": 8.0, "coin": 0.024, "washer": 0.015, "eraser": 0.045,
    "chip": 0.015, "resistor": 0.008,
}
"""Typical longest dimension per category, metres (COCO classes and the synthetic generator's categories)."""


class ScaleAlignmentError(ValueError):
    """Not enough evidence for a metric scale; the message says what was missing."""


@dataclass(frozen=True)
class ScaleEstimate:
    scale: float  # metres per SfM unit
    relative_mad: float  # median |ratio − scale| / scale over the samples (size priors: at least the prior spread)
    n_points: int  # samples behind the estimate: SfM points (depth ratio) or objects (size priors)
    method: Literal["depth_ratio", "size_prior"]
    uncertainty: float  # relative error the scale stays within in 95 % of calibration scenes
    weakness: str | None = None  # why the reconstruction is too weak for metric answers at all; None if it is not


def align_to_depth(rec: SfMReconstruction, depth_m: np.ndarray, measured: bool = False) -> ScaleEstimate:
    """Scale from metric depth maps [N,H,W] of the same keyframes: the median of depth-map value over SfM depth at
    every registered keyframe's observed points (nearest pixel, off depth edges), robust to outliers. `measured`:
    the depth is the source's own (sensor, annotation), so a reconstruction it disagrees with is weak."""
    if depth_m.shape[0] != len(rec.registered):
        raise ScaleAlignmentError(f"depth has {depth_m.shape[0]} frames for {len(rec.registered)} keyframes")
    z_sfm = _observed_depths(rec)
    ratios = []
    for i, z in zip(np.flatnonzero(rec.registered), z_sfm):
        z_metric = _depth_off_edges(depth_m[i], rec.observations[i][0])
        ok = np.isfinite(z_metric) & (z > 0)
        ratios.append(z_metric[ok] / z[ok])
    samples = np.concatenate(ratios) if ratios else np.zeros(0)
    if len(samples) < MIN_DEPTH_POINTS:
        raise ScaleAlignmentError(f"{len(samples)} SfM point(s) project onto valid depth; the depth-ratio scale "
                                  f"needs {MIN_DEPTH_POINTS}")
    geometry = _depth_and_baseline(rec, z_sfm)
    estimate = _estimate(rec, samples, "depth_ratio", floor=0.0, geometry=geometry)
    if measured and estimate.weakness is None:
        return replace(estimate, weakness=weakness(rec, estimate.relative_mad, geometry))
    return estimate


def align_to_size_priors(rec: SfMReconstruction, instance_ids: np.ndarray, categories: Mapping[int, str],
                         priors: Mapping[str, float] = SIZE_PRIORS_M) -> ScaleEstimate:
    """Scale from objects of known typical size: per object, its prior longest dimension over the extent of the
    SfM points seen inside its masks (instance ids int [N,H,W]); the median over objects."""
    points: dict[int, set[int]] = {}
    for i in np.flatnonzero(rec.registered):
        uv, index = rec.observations[i]
        col = np.clip(uv[:, 0].astype(int), 0, instance_ids.shape[2] - 1)
        row = np.clip(uv[:, 1].astype(int), 0, instance_ids.shape[1] - 1)
        for instance, point in zip(instance_ids[i][row, col], index):
            if instance > 0 and categories.get(int(instance)) in priors:
                points.setdefault(int(instance), set()).add(int(point))
    ratios = [priors[categories[k]] / extent for k, ids in points.items()
              if len(ids) >= MIN_OBJECT_POINTS and (extent := _longest_extent(rec.points_xyz[sorted(ids)])) > 0]
    if not ratios:
        known = sorted({c for c in categories.values() if c in priors})
        raise ScaleAlignmentError(f"no object with a size prior has {MIN_OBJECT_POINTS}+ SfM points "
                                  f"(categories with priors in the scene: {known or 'none'})")
    return _estimate(rec, np.asarray(ratios), "size_prior", floor=SIZE_PRIOR_SPREAD,
                     geometry=_depth_and_baseline(rec, _observed_depths(rec)))


def scaled(rec: SfMReconstruction, estimate: ScaleEstimate) -> SfMReconstruction:
    """The reconstruction in metres: camera centres and points multiplied by the estimated scale."""
    poses = rec.camera_to_world.copy()
    poses[:, :3, 3] *= estimate.scale
    return replace(rec, camera_to_world=poses, points_xyz=rec.points_xyz * estimate.scale)


def _depth_off_edges(depth_m: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Depth at each point's pixel, NaN where it is invalid or its 3×3 neighbourhood spans a depth edge (its valid
    extremes differ by more than EDGE_SPREAD): features sit on corners and edges, where a pixel off may read the
    background."""
    height, width = depth_m.shape
    col = np.clip(uv[:, 0].astype(int), 1, width - 2)
    row = np.clip(uv[:, 1].astype(int), 1, height - 2)
    window = np.stack([depth_m[row + dy, col + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1)]).astype(np.float64)
    valid = np.isfinite(window) & (window > 0)  # sparse depth: only the valid neighbours count
    low = np.where(valid, window, np.inf).min(axis=0)
    high = np.where(valid, window, -np.inf).max(axis=0)
    ok = valid[4] & (high <= low * (1 + EDGE_SPREAD))
    return np.where(ok, window[4], np.nan)


def _camera_points(rec: SfMReconstruction, i: int, xyz: np.ndarray) -> np.ndarray:
    pose = rec.camera_to_world[i]
    return (xyz - pose[:3, 3]) @ pose[:3, :3]


def _longest_extent(xyz: np.ndarray) -> float:
    """Longest side of the 5th–95th percentile box of the points along their principal axes."""
    centred = xyz - np.median(xyz, axis=0)
    _, _, axes = np.linalg.svd(centred, full_matrices=False)
    local = centred @ axes.T
    return float((np.percentile(local, 95, axis=0) - np.percentile(local, 5, axis=0)).max())


def conditioning(rec: SfMReconstruction, geometry: tuple[float, float] | None = None) -> float:
    """(mean reprojection error / focal length) × (median point depth / widest camera baseline): how much a small
    angular error in the reconstruction shifts its translations relative to its depths. Infinite without a
    baseline. `geometry`: the (depth, baseline) pair of `_depth_and_baseline`, when already computed."""
    depth, baseline = geometry or _depth_and_baseline(rec, _observed_depths(rec))
    return rec.mean_reprojection_px / rec.fx * depth / baseline if baseline > 0 else float("inf")


def gravity_disagreement(rec: SfMReconstruction) -> float:
    """Angle (radians) between the up of the reconstruction's cameras and the normal of its dominant plane within
    MAX_GROUND_TILT_DEG of it; 0 where either is missing (too few points, no plane holding MIN_GROUND_SHARE of
    them, cameras that give no up)."""
    try:
        up = up_direction(rec)
    except SfMError:
        return 0.0
    points = rec.points_xyz
    if len(points) < 3:
        return 0.0
    tilt = np.cos(np.radians(MAX_GROUND_TILT_DEG))
    plane = dominant_plane(points, lambda normal: abs(normal @ up) >= tilt)
    if plane is None or plane[1].sum() < MIN_GROUND_SHARE * len(points):
        return 0.0
    ground = points[plane[1]]
    normal = np.linalg.svd(ground - ground.mean(axis=0), full_matrices=False)[2][2]  # least squares on the inliers
    return float(np.arccos(min(abs(normal @ up), 1.0)))


def weakness(rec: SfMReconstruction, ratio_spread: float = 0.0,
             geometry: tuple[float, float] | None = None) -> str | None:
    """Why the reconstruction is too weak to answer by (few keyframes registered, no baseline, cameras that never
    turn, a shape the depth disagrees with: `ratio_spread` is the relative MAD of its depth ratios), or None.
    `geometry`: as for `conditioning`."""
    registered, total = int(rec.registered.sum()), len(rec.registered)
    if registered < MIN_REGISTERED or registered < MIN_REGISTERED_SHARE * total:
        return (f"SfM registered {registered} of {total} keyframes (metric answers need {MIN_REGISTERED} and "
                f"{MIN_REGISTERED_SHARE:.0%})")
    depth, baseline = geometry or _depth_and_baseline(rec, _observed_depths(rec))
    if baseline < MIN_BASELINE_RATIO * depth:
        return (f"SfM camera baseline is {baseline / depth:.1%} of the scene depth (metric answers need "
                f"{MIN_BASELINE_RATIO:.0%})")
    axes = rec.camera_to_world[rec.registered][:, :3, 2]
    turn = float(np.degrees(np.arccos(np.clip(axes @ axes.T, -1.0, 1.0))).max())
    if turn < MIN_TURN_DEG:
        return (f"SfM cameras turn only {turn:.1f}° between keyframes: the focal length, and every distance across "
                f"the view, is unobservable (answers need {MIN_TURN_DEG:g}°)")
    if ratio_spread > MAX_RATIO_SPREAD:
        return (f"SfM geometry disagrees with the depth: depth ratios spread {ratio_spread:.1%} (answers need "
                f"{MAX_RATIO_SPREAD:.0%} at most)")
    return None


def _observed_depths(rec: SfMReconstruction) -> list[np.ndarray]:
    """Per registered keyframe, the depth of each point it observes in its camera, in SfM units."""
    return [_camera_points(rec, i, rec.points_xyz[rec.observations[i][1]])[:, 2]
            for i in np.flatnonzero(rec.registered)]


def _depth_and_baseline(rec: SfMReconstruction, depths: list[np.ndarray]) -> tuple[float, float]:
    """Median of the observed points' depths (`_observed_depths`) and the widest distance between registered
    cameras, in SfM units."""
    depth = float(np.median(np.concatenate(depths))) if depths else 0.0
    centres = rec.camera_to_world[rec.registered][:, :3, 3]
    baseline = float(np.linalg.norm(centres[:, None] - centres[None], axis=2).max()) if len(centres) else 0.0
    return depth, baseline


def _estimate(rec: SfMReconstruction, ratios: np.ndarray, method: Literal["depth_ratio", "size_prior"],
              floor: float, geometry: tuple[float, float]) -> ScaleEstimate:
    scale = float(np.median(ratios))
    mad = max(float(np.median(np.abs(ratios - scale))) / scale, floor)
    unregistered = 1 - float(rec.registered.mean())
    uncertainty = max(mad, UNCERTAINTY_FLOOR, CONDITIONING_FACTOR * conditioning(rec, geometry),
                      UNREGISTERED_FACTOR * unregistered, GRAVITY_FACTOR * gravity_disagreement(rec))
    return ScaleEstimate(scale=scale, relative_mad=mad, n_points=len(ratios), method=method,
                         uncertainty=uncertainty, weakness=weakness(rec, geometry=geometry))
