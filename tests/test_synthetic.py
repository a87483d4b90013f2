"""Tests of the synthetic all-scale scene generator: determinism, exact ground truth, realistic layouts."""

from __future__ import annotations

import itertools
import json
import math

import av
import numpy as np
import pytest

from schemas.annotations import CameraTrack, OrientedBox, SceneAnnotation
from schemas.tiers import TIER_SPECS, ScaleTier
from sources.synthetic import (RenderSettings, SceneRenderer, build_scene, generate_default_dataset,
                               generate_scene, is_complete_scene)
from sources.synthetic.writer import DEPTH_DTYPES

SMALL = RenderSettings(width=128, height=96, num_frames=4)
SEEDS = (0, 1, 2)

# Longest edge of an object, per tier (SPEC.md "typical object size").
OBJECT_SIZE_M = {
    ScaleTier.TINY_TABLETOP: (0.001, 0.10),
    ScaleTier.TABLETOP: (0.01, 1.0),
    ScaleTier.INDOOR: (0.10, 10.0),
    ScaleTier.OUTDOOR: (1.0, 100.0),
    ScaleTier.DRONE: (10.0, 1000.0),
}


def _load(path, key):
    with np.load(path) as archive:
        return archive[key]


def _corners(box: OrientedBox) -> np.ndarray:
    c, s = math.cos(math.radians(box.yaw_deg)), math.sin(math.radians(box.yaw_deg))
    half = np.asarray(box.size) / 2
    local = np.array(list(itertools.product((-1, 1), repeat=3))) * half
    rotation = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    return local @ rotation.T + np.asarray(box.center)


def _interpenetrate(a: OrientedBox, b: OrientedBox, tolerance: float = 1e-9) -> bool:
    """Positive-volume overlap of two yawed boxes (separating axis test on footprints, interval test on z)."""
    a_lo, a_hi = a.center[2] - a.size[2] / 2, a.center[2] + a.size[2] / 2
    b_lo, b_hi = b.center[2] - b.size[2] / 2, b.center[2] + b.size[2] / 2
    if min(a_hi, b_hi) - max(a_lo, b_lo) <= tolerance:
        return False
    pa, pb = _corners(a)[:, :2], _corners(b)[:, :2]
    for yaw in (a.yaw_deg, a.yaw_deg + 90, b.yaw_deg, b.yaw_deg + 90):
        axis = np.array([math.cos(math.radians(yaw)), math.sin(math.radians(yaw))])
        if (pa @ axis).max() <= (pb @ axis).min() + tolerance or (pb @ axis).max() <= (pa @ axis).min() + tolerance:
            return False
    return True


def _inside(point: np.ndarray, box: OrientedBox) -> bool:
    c, s = math.cos(math.radians(box.yaw_deg)), math.sin(math.radians(box.yaw_deg))
    rel = point - np.asarray(box.center)
    local = np.array([c * rel[0] + s * rel[1], -s * rel[0] + c * rel[1], rel[2]])
    return bool(np.all(np.abs(local) < np.asarray(box.size) / 2))


def test_same_seed_gives_identical_files_and_other_seed_another_scene(tmp_path):
    first = generate_scene(ScaleTier.TABLETOP, 3, tmp_path / "a", settings=SMALL, scene_id="tabletop_003")
    again = generate_scene(ScaleTier.TABLETOP, 3, tmp_path / "b", settings=SMALL, scene_id="tabletop_003")
    for name in ("depth.npz", "masks.npz", "cameras.json", "scene.json", "video.mp4"):
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    other = generate_scene(ScaleTier.TABLETOP, 4, tmp_path / "c", settings=SMALL, scene_id="tabletop_003")
    assert (other / "scene.json").read_bytes() != (first / "scene.json").read_bytes()
    assert not np.array_equal(_load(other / "depth.npz", "depth"), _load(first / "depth.npz", "depth"))


def test_scene_directory_follows_the_annotated_layout(tmp_path):
    scene_dir = generate_scene(ScaleTier.INDOOR, 0, tmp_path / "indoor_000", settings=SMALL)
    assert is_complete_scene(scene_dir)
    assert sorted(p.name for p in scene_dir.iterdir()) == sorted(
        ["video.mp4", "depth.npz", "masks.npz", "cameras.json", "scene.json"])
    scene = SceneAnnotation.model_validate_json((scene_dir / "scene.json").read_text())
    track = CameraTrack.model_validate_json((scene_dir / "cameras.json").read_text())
    depth, masks = _load(scene_dir / "depth.npz", "depth"), _load(scene_dir / "masks.npz", "masks")
    assert (scene.scene_id, scene.tier, scene.source, scene.seed, scene.up) == (
        "indoor_000", ScaleTier.INDOOR, "synthetic", 0, (0.0, 0.0, 1.0))
    assert [r.kind for r in scene.regions] == ["room"]
    assert depth.dtype == DEPTH_DTYPES[ScaleTier.INDOOR] and masks.dtype == np.uint16
    assert depth.shape == masks.shape == (SMALL.num_frames, SMALL.height, SMALL.width)
    assert len(track.frames) == SMALL.num_frames and track.depth_unit == "m"
    assert (track.intrinsics.width, track.intrinsics.height) == (SMALL.width, SMALL.height)
    assert set(np.unique(masks)) <= {0} | {o.instance_id for o in scene.objects}
    assert not list(tmp_path.glob(".*")), "no staging directory is left behind"


def test_video_decodes_to_as_many_frames_as_depth_at_the_declared_size(tmp_path):
    scene_dir = generate_scene(ScaleTier.OUTDOOR, 0, tmp_path / "outdoor_000", settings=SMALL)
    track = CameraTrack.model_validate_json((scene_dir / "cameras.json").read_text())
    with av.open(str(scene_dir / "video.mp4")) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        rate = float(stream.average_rate)
    assert len(frames) == _load(scene_dir / "depth.npz", "depth").shape[0] == len(track.frames)
    assert frames[0].shape == (track.intrinsics.height, track.intrinsics.width, 3)
    assert rate == pytest.approx(track.fps)


@pytest.mark.parametrize("tier", list(ScaleTier))
def test_depth_and_mask_on_a_top_face_match_the_analytic_ray_hit(tier, tmp_path):
    scene_dir = generate_scene(tier, 1, tmp_path / f"{tier.value}_001", settings=SMALL)
    scene = SceneAnnotation.model_validate_json((scene_dir / "scene.json").read_text())
    track = CameraTrack.model_validate_json((scene_dir / "cameras.json").read_text())
    depth, masks = _load(scene_dir / "depth.npz", "depth"), _load(scene_dir / "masks.npz", "masks")
    k = track.intrinsics
    checked = 0
    for frame in track.frames:
        pose = np.asarray(frame.camera_to_world)
        rotation, origin = pose[:3, :3], pose[:3, 3]
        for obj in scene.objects:
            top = np.array([obj.box.center[0], obj.box.center[1], obj.box.center[2] + obj.box.size[2] / 2])
            cam = rotation.T @ (top - origin)
            if cam[2] <= 0 or origin[2] <= top[2]:
                continue  # top face out of view
            u, v = int(k.fx * cam[0] / cam[2] + k.cx), int(k.fy * cam[1] / cam[2] + k.cy)
            if not (0 <= u < k.width and 0 <= v < k.height) or masks[frame.index, v, u] != obj.instance_id:
                continue
            ray = rotation @ np.array([(u + 0.5 - k.cx) / k.fx, (v + 0.5 - k.cy) / k.fy, 1.0])
            t = (top[2] - origin[2]) / ray[2]
            hit = origin + t * ray
            if not _inside(hit - [0, 0, 1e-9 + obj.box.size[2] * 1e-6], obj.box):
                continue  # the pixel centre sees a side face
            assert float(depth[frame.index, v, u]) == pytest.approx(t, rel=1e-3)
            checked += 1
    assert checked >= 3


@pytest.mark.parametrize("tier", list(ScaleTier))
def test_stored_depth_keeps_relative_error_and_thin_objects(tier):
    scene = build_scene(tier, 0)
    renderer = SceneRenderer(scene, SMALL.intrinsics())
    for pose in scene.camera_path.poses(3):
        frame = renderer.render(pose)
        hit = frame.depth > 0
        assert hit.mean() > 0.5
        assert np.all(frame.mask[~hit] == 0)
        stored = frame.depth.astype(DEPTH_DTYPES[tier]).astype(np.float64)
        error = np.abs(stored - frame.depth)
        assert np.max(error[hit] / frame.depth[hit]) < 1e-3
        for obj in scene.annotation.objects:
            on_object = frame.mask == obj.instance_id
            if on_object.any():
                assert error[on_object].max() < 0.02 * min(obj.box.size), obj.category


@pytest.mark.parametrize("tier", list(ScaleTier))
def test_object_sizes_and_scene_extent_fit_the_tier(tier):
    low, high = OBJECT_SIZE_M[tier]
    spec = TIER_SPECS[tier]
    for seed in SEEDS:
        scene = build_scene(tier, seed).annotation
        assert scene.tier == tier and scene.seed == seed and 6 <= len(scene.objects)
        for obj in scene.objects:
            length, width, height = obj.box.size
            assert length >= width > 0 and height >= 0
            assert low <= max(obj.box.size) <= high, (obj.category, obj.box.size)
            assert obj.box.center[2] - height / 2 >= -1e-9
        corners = np.concatenate([_corners(b.box) for b in scene.objects] + [_corners(r.box) for r in scene.regions])
        extent = float((corners.max(0) - corners.min(0))[:2].max())
        assert spec.min_extent_m <= extent < spec.max_extent_m, extent
        categories = [o.category for o in scene.objects]
        assert max(categories.count(c) for c in set(categories)) >= 2, "a category repeats for counting questions"


def test_category_sizes_are_realistic():
    tiny = [o for seed in SEEDS for o in build_scene(ScaleTier.TINY_TABLETOP, seed).annotation.objects]
    for coin in (o for o in tiny if o.category == "coin"):
        assert 0.018 <= coin.box.size[0] <= 0.030 and 0.0015 <= coin.box.size[2] <= 0.0025
    street = [o for seed in SEEDS for o in build_scene(ScaleTier.OUTDOOR, seed).annotation.objects]
    cars = [o for o in street if o.category == "car"]
    assert cars and all(4.0 <= c.box.size[0] <= 5.0 and 1.3 <= c.box.size[2] <= 1.7 for c in cars)
    buildings = [o for o in street if o.category == "building"]
    assert all(8 <= b.box.size[2] <= 25 for b in buildings)
    room = build_scene(ScaleTier.INDOOR, 0).annotation
    (room_region,) = room.regions
    assert 4.0 <= room_region.box.size[0] <= 7.0 and 2.6 <= room_region.box.size[2] <= 3.0
    assert room_region.box.center[2] == pytest.approx(room_region.box.size[2] / 2)


@pytest.mark.parametrize("tier", list(ScaleTier))
def test_objects_do_not_interpenetrate_and_the_stack_touches(tier):
    for seed in SEEDS:
        objects = build_scene(tier, seed).annotation.objects
        for a, b in itertools.combinations(objects, 2):
            assert not _interpenetrate(a.box, b.box), (seed, a.category, b.category)
        resting_on_another = [
            (a, b) for a, b in itertools.permutations(objects, 2)
            if a.box.center[2] - a.box.size[2] / 2 > 1e-9
            and a.box.center[2] - a.box.size[2] / 2 == pytest.approx(b.box.center[2] + b.box.size[2] / 2, abs=1e-9)
            and _inside(np.array([a.box.center[0], a.box.center[1], b.box.center[2]]), b.box)]
        if tier in (ScaleTier.TABLETOP, ScaleTier.INDOOR):
            assert len(resting_on_another) == 1
        else:
            assert not resting_on_another


@pytest.mark.parametrize("tier", list(ScaleTier))
def test_camera_poses_are_zero_roll_rotations_outside_every_object(tier):
    scene = build_scene(tier, 0)
    poses = scene.camera_path.poses(36)
    rotations = poses[:, :3, :3]
    assert np.allclose(rotations.transpose(0, 2, 1) @ rotations, np.eye(3), atol=1e-9)
    assert np.allclose(np.linalg.det(rotations), 1.0)
    assert np.allclose(poses[:, 3], [0, 0, 0, 1])
    assert np.allclose(rotations[:, 2, 0], 0.0, atol=1e-9), "camera x axis is horizontal"
    assert np.all(rotations[:, 2, 1] < 0), "image down points down in the world"
    steps = np.linalg.norm(np.diff(poses[:, :3, 3], axis=0), axis=1)
    assert steps.max() <= 2 * steps.min() + 1e-9, "the camera moves smoothly"
    turns = [np.degrees(np.arccos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1)))
             for a, b in itertools.combinations(rotations[::5], 2)]
    assert max(turns) >= 15.0, "the camera turns enough for rotation questions"
    for eye in poses[:, :3, 3]:
        assert not any(_inside(eye, o.box) for o in scene.annotation.objects)
    for region in scene.annotation.regions:
        if region.kind == "room":
            assert all(_inside(eye, region.box) for eye in poses[:, :3, 3])


@pytest.mark.parametrize("tier", list(ScaleTier))
def test_most_objects_are_seen_large_enough(tier):
    settings = RenderSettings(width=256, height=192, num_frames=36)
    scene = build_scene(tier, 0)
    renderer = SceneRenderer(scene, settings.intrinsics())
    seen = dict.fromkeys((o.instance_id for o in scene.annotation.objects), 0)
    for pose in scene.camera_path.poses(settings.num_frames):
        mask = renderer.render(pose).mask
        for instance_id in seen:
            rows, cols = np.nonzero(mask == instance_id)
            if rows.size and np.ptp(rows) >= 9 and np.ptp(cols) >= 9:  # 20×20 px at full resolution
                seen[instance_id] += 1
    assert sum(n >= 3 for n in seen.values()) >= 0.75 * len(seen), seen


def test_default_dataset_covers_every_tier_and_skips_complete_scenes(tmp_path):
    tiny = RenderSettings(width=64, height=48, num_frames=2)
    scene_dirs = generate_default_dataset(tmp_path, scenes_per_tier=1, base_seed=5, settings=tiny)
    assert [d.name for d in scene_dirs] == [f"{tier.value}_005" for tier in ScaleTier]
    assert all(is_complete_scene(d) for d in scene_dirs)
    stamps = {d: (d / "depth.npz").stat().st_mtime_ns for d in scene_dirs}
    assert generate_default_dataset(tmp_path, scenes_per_tier=1, base_seed=5, settings=tiny) == scene_dirs
    assert {d: (d / "depth.npz").stat().st_mtime_ns for d in scene_dirs} == stamps
    assert json.loads((scene_dirs[0] / "scene.json").read_text())["scene_id"] == "tiny_tabletop_005"
