"""Metric scale of an up-to-scale reconstruction: depth ratio and size priors, on exactly known geometry."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from specialists.scale_alignment import (GRAVITY_FACTOR, SIZE_PRIOR_SPREAD, UNCERTAINTY_FLOOR, ScaleAlignmentError,
                                         align_to_depth, align_to_size_priors, gravity_disagreement, scaled, weakness)
from specialists.sfm import SfMReconstruction

W, H, F = 160, 120, 150.0
METRES_PER_UNIT = 2.5


def _pose(centre: np.ndarray, yaw_deg: float = 0.0) -> np.ndarray:
    """A camera at `centre` looking along world +y turned `yaw_deg` about up (x right, y down = −z world)."""
    yaw = np.radians(yaw_deg)
    turn = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    pose = np.eye(4)
    pose[:3, :3] = turn @ np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])
    pose[:3, 3] = centre
    return pose


def _reconstruction(points_m: np.ndarray, centres_m: np.ndarray, turn_deg: float = 8.0
                    ) -> tuple[SfMReconstruction, np.ndarray]:
    """The reconstruction of metric points seen from metric camera centres, every other camera turned `turn_deg`,
    in SfM units (metres / 2.5), and the metric z-depth of every observation's pixel (NaN elsewhere)."""
    poses = np.stack([_pose(c / METRES_PER_UNIT, turn_deg * (i % 2)) for i, c in enumerate(centres_m)])
    depth = np.full((len(poses), H, W), np.nan, dtype=np.float32)
    observations = []
    for i, pose in enumerate(poses):
        cam = (points_m / METRES_PER_UNIT - pose[:3, 3]) @ pose[:3, :3]
        uv = np.stack([F * cam[:, 0] / cam[:, 2] + W / 2, F * cam[:, 1] / cam[:, 2] + H / 2], axis=1)
        seen = np.flatnonzero((cam[:, 2] > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < W) & (uv[:, 1] >= 0) & (uv[:, 1] < H))
        observations.append((uv[seen], seen))
        depth[i][uv[seen, 1].astype(int), uv[seen, 0].astype(int)] = cam[seen, 2] * METRES_PER_UNIT
    rec = SfMReconstruction(registered=np.ones(len(poses), bool), fx=F, fy=F, cx=W / 2, cy=H / 2, width=W, height=H,
                            camera_to_world=poses, points_xyz=points_m / METRES_PER_UNIT, observations=observations,
                            mean_reprojection_px=0.0)
    return rec, depth


def _scene(rng: np.random.Generator, n: int = 400) -> np.ndarray:
    return np.stack([rng.uniform(-3, 3, n), rng.uniform(6, 12, n), rng.uniform(-2, 2, n)], axis=1)


CENTRES = np.array([[0.0, 0, 0], [0.5, 0, 0], [1.0, 0.2, 0]])


def test_depth_ratio_recovers_the_scale_despite_outliers():
    rng = np.random.default_rng(0)
    rec, depth = _reconstruction(_scene(rng), CENTRES)
    noisy = depth * rng.normal(1.0, 0.01, depth.shape).astype(np.float32)
    outliers = rng.random(depth.shape) < 0.2
    noisy[outliers] *= 3.0  # a fifth of the samples hit a wrong surface (depth edges)
    estimate = align_to_depth(rec, noisy)
    assert estimate.method == "depth_ratio"
    assert estimate.scale == pytest.approx(METRES_PER_UNIT, rel=0.01)
    assert 0.005 < estimate.relative_mad < 0.05
    observed = sum(len(o[1]) for o in rec.observations)
    assert observed / 2 < estimate.n_points <= observed  # samples next to a much farther or nearer one are skipped


def test_unregistered_keyframes_and_invalid_depth_are_ignored():
    rec, depth = _reconstruction(_scene(np.random.default_rng(1)), CENTRES)
    rec.registered[1] = False
    rec.camera_to_world[1] = np.nan
    depth[2][:, : W // 2] = 0.0  # no depth on the left half of the last frame
    estimate = align_to_depth(rec, depth)
    assert estimate.scale == pytest.approx(METRES_PER_UNIT, rel=1e-4)
    assert estimate.n_points < len(rec.observations[0][1]) + len(rec.observations[2][1])


def test_depth_ratio_needs_enough_points_on_valid_depth():
    rec, depth = _reconstruction(_scene(np.random.default_rng(2)), CENTRES)
    with pytest.raises(ScaleAlignmentError, match="0 SfM point"):
        align_to_depth(rec, np.full_like(depth, np.nan))
    with pytest.raises(ScaleAlignmentError, match="depth has 2 frames for 3 keyframes"):
        align_to_depth(rec, depth[:2])


def _objects(rng: np.random.Generator, sizes: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Point clouds of boxes (longest side as given, the others 30 % of it) along a row, and their instance id
    per point."""
    points, ids = [], []
    for k, side in enumerate(sizes.values(), start=1):
        centre = np.array([-2.0 + 1.5 * k, 9.0, 0.0])
        points.append(centre + rng.uniform(-0.5, 0.5, (200, 3)) * np.array([1.0, 0.3, 0.3]) * side)
        ids.append(np.full(200, k))
    return np.concatenate(points), np.concatenate(ids)


def _instance_maps(rec: SfMReconstruction, point_ids: np.ndarray) -> np.ndarray:
    maps = np.zeros((len(rec.registered), H, W), dtype=np.int32)
    for i, (uv, index) in enumerate(rec.observations):
        maps[i][uv[:, 1].astype(int), uv[:, 0].astype(int)] = point_ids[index]
    return maps


def test_size_priors_give_the_scale_with_at_least_the_prior_spread():
    rng = np.random.default_rng(3)
    priors = {"crate": 0.9, "drum": 0.6}
    points, ids = _objects(rng, priors)
    rec, _ = _reconstruction(points, CENTRES)
    estimate = align_to_size_priors(rec, _instance_maps(rec, ids), {1: "crate", 2: "drum"}, priors)
    assert estimate.method == "size_prior"
    assert estimate.n_points == 2
    # the 5th–95th percentile extent of uniformly spread points is 90 % of the side
    assert estimate.scale == pytest.approx(METRES_PER_UNIT / 0.9, rel=0.05)
    assert estimate.relative_mad >= SIZE_PRIOR_SPREAD


def test_size_priors_need_a_known_category():
    rng = np.random.default_rng(4)
    points, ids = _objects(rng, {"crate": 0.9})
    rec, _ = _reconstruction(points, CENTRES)
    with pytest.raises(ScaleAlignmentError, match=r"categories with priors in the scene: none"):
        align_to_size_priors(rec, _instance_maps(rec, ids), {1: "gizmo"}, {"crate": 0.9})


def test_scaled_reconstruction_is_in_metres():
    rec, _ = _reconstruction(_scene(np.random.default_rng(5)), CENTRES)
    estimate = align_to_depth(rec, _reconstruction(_scene(np.random.default_rng(5)), CENTRES)[1])
    metric = scaled(rec, estimate)
    assert np.allclose(metric.camera_to_world[:, :3, 3], CENTRES)
    assert np.allclose(metric.camera_to_world[:, :3, :3], rec.camera_to_world[:, :3, :3])
    assert np.allclose(metric.points_xyz, rec.points_xyz * METRES_PER_UNIT)


def test_uncertainty_covers_the_spread_and_grows_with_reprojection_error_and_depth_over_baseline():
    rng = np.random.default_rng(4)
    points = _scene(rng)
    rec, depth = _reconstruction(points, CENTRES)
    sharp = align_to_depth(dataclasses.replace(rec, mean_reprojection_px=0.2), depth)
    blurred = align_to_depth(dataclasses.replace(rec, mean_reprojection_px=2.0), depth)
    narrow_rec, narrow_depth = _reconstruction(points, CENTRES / 4)
    narrow = align_to_depth(dataclasses.replace(narrow_rec, mean_reprojection_px=0.2), narrow_depth)
    assert sharp.uncertainty >= max(sharp.relative_mad, UNCERTAINTY_FLOOR)
    assert blurred.uncertainty == pytest.approx(10 * sharp.uncertainty, rel=0.01)
    assert narrow.uncertainty == pytest.approx(4 * sharp.uncertainty, rel=0.05)
    assert sharp.weakness is None


def test_few_registered_keyframes_or_no_baseline_make_a_weak_reconstruction():
    rng = np.random.default_rng(5)
    points = _scene(rng)
    centres = np.array([[0.2 * i, 0.0, 0.0] for i in range(8)])
    rec, depth = _reconstruction(points, centres)
    assert weakness(rec) is None
    two_of_eight = dataclasses.replace(rec, registered=np.arange(8) < 2)
    assert "registered 2 of 8 keyframes" in weakness(two_of_eight)
    assert "registered 2 of 8 keyframes" in align_to_depth(two_of_eight, depth).weakness
    assert "registered 3 of 8" in weakness(dataclasses.replace(rec, registered=np.arange(8) < 3))  # under half
    turn_rec, _ = _reconstruction(points, centres / 100)  # 1.4 cm of baseline, 9 m away
    assert "baseline is 0.2% of the scene depth" in weakness(turn_rec)


def test_cameras_that_never_turn_or_a_shape_the_depth_disagrees_with_make_a_weak_reconstruction():
    """A camera that only translates (a nadir flight, a push-in) leaves the focal length unobservable; ratios to
    measured depth spreading 20% mean the reconstruction's shape is not the scene's."""
    points = _scene(np.random.default_rng(6))
    centres = np.array([[0.2 * i, 0.0, 0.0] for i in range(8)])
    sliding, depth = _reconstruction(points, centres, turn_deg=0.0)
    assert "cameras turn only 0.0°" in weakness(sliding)
    assert "turn only" in align_to_depth(sliding, depth).weakness
    rec, depth = _reconstruction(points, centres)
    assert weakness(rec, ratio_spread=0.01) is None
    assert "depth ratios spread 20.0%" in weakness(rec, ratio_spread=0.2)
    warped = depth * np.random.default_rng(7).uniform(0.6, 1.4, depth.shape).astype(np.float32)
    assert "disagrees with the depth" in align_to_depth(rec, warped, measured=True).weakness
    assert align_to_depth(rec, warped).weakness is None  # a depth model's errors spread the ratios too


def _ground_scene(rng: np.random.Generator, tilt_deg: float) -> np.ndarray:
    """Points on a ground plane 1.5 m below the cameras, rolled `tilt_deg` about the viewing direction (world y),
    and a few above it."""
    ground = np.stack([rng.uniform(-3, 3, 300), rng.uniform(6, 12, 300), np.full(300, -1.5)], axis=1)
    above = np.stack([rng.uniform(-2, 2, 60), rng.uniform(7, 11, 60), rng.uniform(-1.2, 1.0, 60)], axis=1)
    tilt = np.radians(tilt_deg)
    roll = np.array([[np.cos(tilt), 0.0, -np.sin(tilt)], [0.0, 1.0, 0.0], [np.sin(tilt), 0.0, np.cos(tilt)]])
    return np.concatenate([ground, above]) @ roll.T


def test_uncertainty_grows_with_the_disagreement_between_camera_up_and_ground():
    """Level cameras over a ground the reconstruction has rolled 4°: the depth agrees point by point, but the
    rotations are not the scene's, so the scale is as uncertain as GRAVITY_FACTOR makes 4°."""
    level_rec, level_depth = _reconstruction(_ground_scene(np.random.default_rng(8), 0.0), CENTRES)
    rolled_rec, rolled_depth = _reconstruction(_ground_scene(np.random.default_rng(8), 4.0), CENTRES)
    assert gravity_disagreement(level_rec) == pytest.approx(0.0, abs=np.radians(0.2))
    assert gravity_disagreement(rolled_rec) == pytest.approx(np.radians(4.0), abs=np.radians(0.2))
    level, rolled = align_to_depth(level_rec, level_depth), align_to_depth(rolled_rec, rolled_depth)
    assert level.relative_mad < 0.001 and rolled.relative_mad < 0.001
    assert level.uncertainty == pytest.approx(UNCERTAINTY_FLOOR)
    assert rolled.uncertainty == pytest.approx(GRAVITY_FACTOR * np.radians(4.0), rel=0.05)
