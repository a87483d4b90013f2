"""ARKitScenes 3DOD source: round trip against the generator's truth, the dataset's conventions (w2c traj,
normalizedAxes rows, sky_direction turns of image, K and camera, integer-index pixel centres), bad input and
detection."""

from __future__ import annotations

import csv
import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from schemas.tiers import ScaleTier
from sources.arkitscenes import ARKitScenesSource
from sources.contract import KeyframePolicy, Modality, SourceError
from sources.synthetic import SceneRenderer, build_scene
from sources.synthetic.geometry import box_corners
from tests.datasets.arkitscenes_writer import box_entry, timestamps, video_id, write_arkitscenes

SOURCE = ARKitScenesSource()
ALL = KeyframePolicy(stride=1, max_keyframes=100)
SKIES = ("Up", "Left", "Down", "Right")


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    """One written video per sky_direction (seed 0), each under its own root."""
    return {sky: write_arkitscenes(tmp_path_factory.mktemp(f"ark-{sky}"), sky_direction=sky) for sky in SKIES}


@pytest.fixture()
def left_copy(fixtures, tmp_path):
    """A fresh copy of the Left fixture's root, to damage."""
    return shutil.copytree(fixtures["Left"].root, tmp_path / "data")


def _read(root: Path, policy: KeyframePolicy = ALL):
    items = list(SOURCE.discover(root))
    assert len(items) == 1
    return SOURCE.read(root, items[0], policy)


def _paths(root: Path, seed: int = 0) -> dict[str, Path]:
    vid = video_id(seed)
    video_dir = root / "Training" / vid
    frames = video_dir / f"{vid}_frames"
    return {"vid": vid, "video": video_dir, "frames": frames, "traj": frames / "lowres_wide.traj",
            "annotation": video_dir / f"{vid}_3dod_annotation.json", "metadata": root / "metadata.csv",
            "pincams": frames / "lowres_wide_intrinsics", "depth": frames / "lowres_depth",
            "rgb": frames / "lowres_wide"}


def _project(k, camera_to_world: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Continuous pixel coordinates (pixel (i, j) centred at (i + 0.5, j + 0.5)) of world points [N, 3]."""
    local = (points - camera_to_world[:3, 3]) @ camera_to_world[:3, :3]
    return np.stack([k.fx * local[:, 0] / local[:, 2] + k.cx, k.fy * local[:, 1] / local[:, 2] + k.cy], axis=1)


def _to_dataset(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ transform[:3, :3].T + transform[:3, 3]


def _corner_gap(a: np.ndarray, b: np.ndarray) -> float:
    """The largest distance from a corner of either set to the nearest corner of the other (0: the same box)."""
    distances = np.linalg.norm(a[:, None] - b[None], axis=2)
    return float(max(distances.min(axis=1).max(), distances.min(axis=0).max()))


def _set_sky(metadata: Path, sky: str) -> None:
    with metadata.open(newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)
    for row in rows:
        row["sky_direction"] = sky
    with metadata.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


# --- round trip ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("sky", SKIES)
def test_round_trip_matches_the_generator(fixtures, sky):
    fixture = fixtures[sky]
    scene = _read(fixture.root)
    truth_k, transform = fixture.intrinsics, fixture.dataset_from_synthetic

    assert scene.scene_id == fixture.scene_id == f"arkitscenes_{video_id(0)}"
    assert scene.source == "arkitscenes" and scene.tier is ScaleTier.INDOOR and scene.metric
    assert scene.n_frames == 8 and scene.frame_indices == list(range(8))
    assert scene.fps == pytest.approx(10.0, rel=1e-6)
    assert scene.timestamps_s == pytest.approx([0.1 * i for i in range(8)], abs=1e-9)
    stored = sorted(_paths(fixture.root)["rgb"].glob("*.png"))
    assert [p.name for p in scene.content] == [p.name for p in stored] == \
        [f"{video_id(0)}_{stamp}.png" for stamp in timestamps(8)]

    k = scene.intrinsics  # upright, project pixel centres: the render's K exactly
    assert (k.width, k.height) == (truth_k.width, truth_k.height)
    assert [k.fx, k.fy, k.cx, k.cy] == pytest.approx([truth_k.fx, truth_k.fy, truth_k.cx, truth_k.cy], rel=1e-6)
    np.testing.assert_allclose(scene.camera_to_world, transform @ fixture.camera_to_world, atol=1e-6)

    annotation = build_scene(ScaleTier.INDOOR, 0)
    renderer = SceneRenderer(annotation, truth_k)
    for i, pose in enumerate(fixture.camera_to_world):
        frame = renderer.render(pose)
        np.testing.assert_array_equal(scene.rgb[i], frame.rgb)  # upright, RGB order
        assert np.abs(scene.depth_m[i] - frame.depth).max() <= 0.0005 + 1e-6
    assert scene.depth_m.dtype == np.float32 and scene.rgb.dtype == np.uint8
    assert scene.instance_ids is None and not scene.has(Modality.INSTANCES)

    objects = fixture.annotation.objects
    assert [b.instance_id for b in scene.boxes] == list(range(1, len(objects) + 1))
    assert scene.categories == {i + 1: obj.category for i, obj in enumerate(objects)}
    for box, obj in zip(scene.boxes, objects, strict=True):
        assert box.category == obj.category
        np.testing.assert_allclose(box.center, _to_dataset(transform, np.asarray(obj.box.center)[None])[0], atol=1e-9)
        np.testing.assert_allclose(box.size, obj.box.size, atol=1e-12)
        np.testing.assert_allclose(box.corners(), _to_dataset(transform, box_corners(obj.box)), atol=1e-9)
    np.testing.assert_allclose(scene.up, [0.0, 0.0, 1.0])
    assert set(scene.provenance) == {Modality.INTRINSICS, Modality.POSES, Modality.DEPTH, Modality.BOXES,
                                     Modality.CATEGORIES, Modality.GRAVITY, Modality.METRIC}
    assert all(v.startswith("native:arkitscenes/") for v in scene.provenance.values())


def test_keyframe_policy_selects_frames_and_their_poses(fixtures):
    fixture = fixtures["Right"]
    scene = _read(fixture.root, KeyframePolicy(stride=3, max_keyframes=10))
    assert scene.frame_indices == [0, 3, 6] and scene.n_frames == 8 and scene.rgb.shape[0] == 3
    assert scene.timestamps_s == pytest.approx([0.0, 0.3, 0.6], abs=1e-9)
    assert len(scene.content) == 8  # every frame identifies the item, not only the keyframes
    np.testing.assert_allclose(scene.camera_to_world,
                               fixture.dataset_from_synthetic @ fixture.camera_to_world[[0, 3, 6]], atol=1e-6)


# --- conventions -----------------------------------------------------------------------------------------------

def test_traj_is_world_to_camera_so_the_centre_is_minus_r_transpose_t(fixtures):
    fixture = fixtures["Up"]
    scene = _read(fixture.root)
    tokens = [float(v) for v in _paths(fixture.root)["traj"].read_text().splitlines()[0].split()]
    rotation = cv2.Rodrigues(np.array(tokens[1:4]))[0]
    translation = np.array(tokens[4:7])
    np.testing.assert_allclose(scene.camera_to_world[0, :3, 3], -rotation.T @ translation, atol=1e-9)
    assert np.linalg.norm(scene.camera_to_world[0, :3, 3] - translation) > 0.5  # columns 5–7 are not the centre
    np.testing.assert_allclose(scene.camera_to_world[0, :3, :3], rotation.T, atol=1e-9)


@pytest.mark.parametrize("sky", ["Left", "Down"])
def test_box_corners_land_where_the_render_put_them(fixtures, sky):
    """Every corner projected with the emitted (upright) K and pose is where the render's own camera puts it, and
    every pixel of an object's rendered mask, back-projected with the emitted depth, K and pose, is in its box."""
    fixture = fixtures[sky]
    scene = _read(fixture.root)
    for i, pose in enumerate(fixture.camera_to_world):
        for obj, box in zip(fixture.annotation.objects, scene.boxes, strict=True):
            corners = box_corners(obj.box)
            if (((corners - pose[:3, 3]) @ pose[:3, :3])[:, 2] <= 0.05).any():
                continue
            np.testing.assert_allclose(_project(scene.intrinsics, scene.camera_to_world[i], box.corners()),
                                       _project(fixture.intrinsics, pose, corners), atol=1e-6)
    k, checked = scene.intrinsics, 0
    for i in range(scene.rgb.shape[0]):
        for box in scene.boxes:
            v, u = np.nonzero(fixture.masks[i] == box.instance_id)
            if len(u) < 20:
                continue
            depth = scene.depth_m[i][v, u]
            local = np.stack([(u + 0.5 - k.cx) / k.fx * depth, (v + 0.5 - k.cy) / k.fy * depth, depth], axis=1)
            world = local @ scene.camera_to_world[i, :3, :3].T + scene.camera_to_world[i, :3, 3]
            in_box = np.abs((world - box.center) @ box.rotation) - box.size / 2
            assert in_box.max() < 0.002, (i, box.category, in_box.max())
            checked += 1
    assert checked >= 5


def test_normalized_axes_rows_are_the_box_axes(left_copy):
    """A chair yawed 30° about z, written as the dataset does (rows of the reshape = box axes): its corners are
    the official compute_box_3d's; reading the reshape untransposed would turn it −30°."""
    paths = _paths(left_copy)
    yaw = math.radians(30.0)
    rows = np.array([[math.cos(yaw), math.sin(yaw), 0.0], [-math.sin(yaw), math.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    center, lengths = np.array([1.2, -0.4, 0.45]), (0.62, 0.48, 0.9)
    document = json.loads(paths["annotation"].read_text())
    document["data"] = [box_entry("chair-30", "chair", 7, center, rows, lengths),
                        box_entry("tv-1", "tv/monitor", 8, center + 1.0, np.eye(3), (1.0, 0.1, 0.6)),
                        box_entry("mirror", "shelf", 9, center - 1.0, np.diag([1.0, -1.0, 1.0]), (1.0, 0.3, 1.5))]
    paths["annotation"].write_text(json.dumps(document))
    scene = _read(left_copy)

    rotmat = rows  # np.array(normalizedAxes).reshape(3, 3), as box_utils.compute_box_3d receives it
    half_l, half_h, half_w = (v / 2 for v in lengths)
    official = (rotmat.T @ np.array([[half_l, half_l, -half_l, -half_l, half_l, half_l, -half_l, -half_l],
                                     [half_h, -half_h, -half_h, half_h, half_h, -half_h, -half_h, half_h],
                                     [half_w, half_w, half_w, half_w, -half_w, -half_w, -half_w, -half_w]])).T
    official += center
    chair = scene.boxes[0]
    assert chair.category == "chair" and chair.instance_id == 1
    assert _corner_gap(chair.corners(), official) < 1e-12
    np.testing.assert_allclose(chair.rotation[:, 0], [math.cos(yaw), math.sin(yaw), 0.0], atol=1e-12)
    untransposed = center + (np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
                             * np.array(lengths) / 2) @ rows.T  # R_box_to_world = reshape, not its transpose
    assert _corner_gap(untransposed, official) > 0.05
    assert scene.categories == {1: "chair", 2: "tv_monitor", 3: "shelf"}
    mirrored = scene.boxes[2]  # a left-handed axis triple: the same box, a proper rotation
    assert np.linalg.det(mirrored.rotation) == pytest.approx(1.0)
    expected = center - 1.0 + np.array([[sx * 0.5, sy * 0.15, sz * 0.75] for sx in (-1, 1) for sy in (-1, 1)
                                        for sz in (-1, 1)])
    assert _corner_gap(mirrored.corners(), expected) < 1e-12


def test_turning_a_frame_turns_k_and_the_camera(left_copy):
    """The same stored frames read as Up (sensor orientation) and as Left (turned clockwise): a world point lands
    on the turned pixel, u' = H − v, v' = u, and that pixel holds the same colour."""
    left = _read(left_copy)
    _set_sky(_paths(left_copy)["metadata"], "Up")
    up = _read(left_copy)
    assert up.rgb.shape[1:3] == (192, 256) and left.rgb.shape[1:3] == (256, 192)
    np.testing.assert_array_equal(left.rgb, np.rot90(up.rgb, -1, axes=(1, 2)))
    np.testing.assert_array_equal(left.depth_m, np.rot90(up.depth_m, -1, axes=(1, 2)))
    np.testing.assert_allclose(left.camera_to_world[:, :3, 3], up.camera_to_world[:, :3, 3])
    np.testing.assert_allclose(left.camera_to_world[:, :3, 2], up.camera_to_world[:, :3, 2])
    np.testing.assert_allclose(left.camera_to_world[:, :3, 0], -up.camera_to_world[:, :3, 1])
    hits = 0
    for i in range(up.rgb.shape[0]):
        points = np.concatenate([box.corners() for box in up.boxes] + [np.stack([b.center for b in up.boxes])])
        local = (points - up.camera_to_world[i, :3, 3]) @ up.camera_to_world[i, :3, :3]
        points = points[local[:, 2] > 0.1]
        sensor = _project(up.intrinsics, up.camera_to_world[i], points)
        upright = _project(left.intrinsics, left.camera_to_world[i], points)
        np.testing.assert_allclose(upright, np.stack([192 - sensor[:, 1], sensor[:, 0]], axis=1), atol=1e-9)
        inside = (sensor[:, 0] >= 0) & (sensor[:, 0] < 256) & (sensor[:, 1] >= 0) & (sensor[:, 1] < 192)
        for (us, vs), (ul, vl) in zip(sensor[inside].astype(int), upright[inside].astype(int), strict=True):
            assert (left.rgb[i, vl, ul] == up.rgb[i, vs, us]).all()
            hits += 1
    assert hits >= 10
    # the sensor K in the project's convention is the pincam's + 0.5: the Left K turned back
    assert (up.intrinsics.fx, up.intrinsics.fy) == (left.intrinsics.fy, left.intrinsics.fx)
    assert (up.intrinsics.cx, up.intrinsics.cy) == pytest.approx((left.intrinsics.cy, 192 - left.intrinsics.cx))
    pincam = (_paths(left_copy)["pincams"] / f"{video_id(0)}_{timestamps(8)[0]}.pincam").read_text().split()
    assert (up.intrinsics.cx, up.intrinsics.cy) == pytest.approx((float(pincam[4]) + 0.5, float(pincam[5]) + 0.5))


@pytest.mark.parametrize("sky", ["Left", "Right", "Down"])
def test_orientation_from_poses_when_metadata_has_no_row(fixtures, tmp_path, sky):
    """Without a metadata row the official rectify_im.py decide_pose rule gives the same turn as sky_direction."""
    root = shutil.copytree(fixtures[sky].root, tmp_path / "data")
    expected = _read(root)
    (root / "metadata.csv").unlink()
    np.testing.assert_array_equal(_read(root).rgb, expected.rgb)
    (root / "metadata.csv").write_text("video_id,visit_id,fold,sky_direction\n99999999,1,Training,Up\n")
    scene = _read(root)
    np.testing.assert_array_equal(scene.rgb, expected.rgb)
    assert scene.intrinsics == expected.intrinsics


def test_metadata_in_the_split_folder_is_found_first(left_copy):
    paths = _paths(left_copy)
    shutil.copy(paths["metadata"], paths["video"].parent / "metadata.csv")
    _set_sky(paths["metadata"], "Sideways")  # the root's copy is never reached: the split's lists the video
    assert _read(left_copy).rgb.shape[1:3] == (256, 192)


# --- bad input -------------------------------------------------------------------------------------------------

def test_frame_without_a_pose_names_the_traj_and_timestamp(left_copy):
    paths = _paths(left_copy)
    stamp = timestamps(8)[4]
    lines = paths["traj"].read_text().splitlines(keepends=True)
    paths["traj"].write_text("".join(line for line in lines if abs(float(line.split()[0]) - float(stamp)) > 0.01))
    with pytest.raises(SourceError, match="no pose within 0.005 s") as err:
        _read(left_copy)
    assert str(paths["traj"]) in str(err.value) and stamp in str(err.value)


def test_pose_just_outside_the_tolerance_is_refused(left_copy):
    paths = _paths(left_copy)
    stamp = timestamps(8)[1]
    lines = paths["traj"].read_text().splitlines(keepends=True)
    lines = [line.replace(line.split()[0], f"{float(stamp) + 0.0052:.8f}", 1)
             if abs(float(line.split()[0]) - float(stamp)) < 0.001 else line for line in lines]
    paths["traj"].write_text("".join(lines))
    with pytest.raises(SourceError, match=stamp):
        _read(left_copy)


def test_malformed_traj_line_names_the_line(left_copy):
    paths = _paths(left_copy)
    lines = paths["traj"].read_text().splitlines(keepends=True)
    lines[2] = " ".join(lines[2].split()[:6]) + "\n"
    paths["traj"].write_text("".join(lines))
    with pytest.raises(SourceError, match=r"lowres_wide\.traj: line 3: 6 fields"):
        _read(left_copy)


def test_missing_pincam_is_named(left_copy):
    paths = _paths(left_copy)
    stamp = timestamps(8)[2]  # its pincam is the one named 0.001 s late
    (paths["pincams"] / f"{paths['vid']}_{float(stamp) + 0.001:.3f}.pincam").unlink()
    with pytest.raises(SourceError, match=r"lowres_wide_intrinsics.*\.pincam: missing") as err:
        _read(left_copy)
    assert stamp in str(err.value)


def test_singular_k_in_a_pincam_is_refused(left_copy):
    paths = _paths(left_copy)
    pincam = paths["pincams"] / f"{paths['vid']}_{timestamps(8)[0]}.pincam"
    values = pincam.read_text().split()
    values[2] = "0.0"
    pincam.write_text(" ".join(values) + "\n")
    with pytest.raises(SourceError, match="singular") as err:
        _read(left_copy)
    assert str(pincam) in str(err.value)


def test_depth_png_of_the_wrong_size_is_refused(left_copy):
    paths = _paths(left_copy)
    depth = paths["depth"] / f"{paths['vid']}_{timestamps(8)[6]}.png"
    Image.fromarray(np.full((96, 128), 1500, np.uint16)).save(depth)
    with pytest.raises(SourceError, match="depth is 128×96") as err:
        _read(left_copy)
    assert str(depth) in str(err.value)


def test_corrupt_annotation_json_is_named(left_copy):
    paths = _paths(left_copy)
    paths["annotation"].write_text(paths["annotation"].read_text()[:200])
    with pytest.raises(SourceError, match="not valid JSON") as err:
        _read(left_copy)
    assert str(paths["annotation"]) in str(err.value)


def test_box_whose_axes_are_not_a_rotation_names_the_uid(left_copy):
    paths = _paths(left_copy)
    document = json.loads(paths["annotation"].read_text())
    entry = document["data"][3]
    axes = np.array(entry["segments"]["obbAligned"]["normalizedAxes"])
    entry["segments"]["obbAligned"]["normalizedAxes"] = (axes * 1.5).tolist()
    paths["annotation"].write_text(json.dumps(document))
    with pytest.raises(SourceError, match="normalizedAxes: not a rotation") as err:
        _read(left_copy)
    assert entry["uid"] in str(err.value) and str(paths["annotation"]) in str(err.value)


def test_unknown_sky_direction_is_refused(left_copy):
    paths = _paths(left_copy)
    _set_sky(paths["metadata"], "Sideways")
    with pytest.raises(SourceError, match=r"metadata\.csv: line 2: sky_direction 'Sideways'") as err:
        _read(left_copy)
    assert str(paths["metadata"]) in str(err.value)


def test_intrinsics_of_another_camera_on_one_keyframe_are_refused(left_copy):
    paths = _paths(left_copy)
    pincam = paths["pincams"] / f"{paths['vid']}_{timestamps(8)[7]}.pincam"
    values = pincam.read_text().split()
    values[2] = str(float(values[2]) * 1.5)
    pincam.write_text(" ".join(values) + "\n")
    with pytest.raises(SourceError, match="fx = .* more than 5% apart") as err:
        _read(left_copy)
    assert str(pincam) in str(err.value)
    assert _read(left_copy, KeyframePolicy(stride=2, max_keyframes=10)).frame_indices == [0, 2, 4, 6]


def test_misnamed_frame_is_refused_not_skipped(left_copy):
    paths = _paths(left_copy)
    shutil.copy(next(paths["rgb"].glob("*.png")), paths["rgb"] / "frame_0001.png")
    with pytest.raises(SourceError, match="frame_0001.png: file name is not"):
        _read(left_copy)


# --- discovery and detection -----------------------------------------------------------------------------------

def test_discover_lists_every_video_folder_and_skips_none(tmp_path):
    write_arkitscenes(tmp_path, seed=0, sky_direction="Up", num_frames=3)
    write_arkitscenes(tmp_path, seed=1, sky_direction="Right", num_frames=3)
    bare = tmp_path / "Validation" / "47000001"
    bare.mkdir(parents=True)
    (bare / "47000001_3dod_annotation.json").write_text(json.dumps({"data": []}))
    items = list(SOURCE.discover(tmp_path))
    assert [item.uri for item in items] == [f"Training/{video_id(0)}", f"Training/{video_id(1)}",
                                            "Validation/47000001"]
    assert [item.scene_id for item in items] == [f"arkitscenes_{video_id(0)}", f"arkitscenes_{video_id(1)}",
                                                 "arkitscenes_47000001"]
    assert all(item.source == "arkitscenes" and item.tier is ScaleTier.INDOOR for item in items)
    second = SOURCE.read(tmp_path, items[1], ALL)
    assert second.rgb.shape == (3, 256, 192, 3)  # its own metadata row (Right), not the first video's
    with pytest.raises(SourceError, match=r"47000001_frames: missing"):
        SOURCE.read(tmp_path, items[2], ALL)
    assert [item.uri for item in SOURCE.discover(tmp_path / "Training")] == [video_id(0), video_id(1)]


def test_detect_claims_the_layout_and_nothing_else(fixtures, tmp_path):
    root = fixtures["Up"].root
    assert SOURCE.detect(root) and SOURCE.detect(root / "Training")
    assert SOURCE.detect(root / "Training" / video_id(0))
    assert not SOURCE.detect(tmp_path)
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "walk.mp4").write_bytes(b"\0" * 64)
    (tmp_path / "scene_a").mkdir()
    (tmp_path / "scene_a" / "scene.json").write_text("{}")
    (tmp_path / "frames_only" / "frames").mkdir(parents=True)
    assert not SOURCE.detect(tmp_path)
