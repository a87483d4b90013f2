"""The DL3DV-10K source on fixtures written in DL3DV's own layout (tests/datasets/dl3dv_writer.py)."""

from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from schemas.tiers import ScaleTier
from sources.contract import KeyframePolicy, Modality, SourceError
from sources.dl3dv import NOMINAL_FPS, DL3DVSource
from sources.gravity import ESTIMATED_FROM_CAMERAS, estimate_up
from sources.synthetic import SceneRenderer, build_scene
from tests.datasets import FixtureScene
from tests.datasets.dl3dv_writer import scene_hash, write_dl3dv

SOURCE = DL3DVSource()
ALL_FRAMES = KeyframePolicy(stride=1, max_keyframes=100)
DISTORTION = (-0.2, 0.03, 0.004, -0.003)


@pytest.fixture(scope="module")
def outdoor(tmp_path_factory) -> FixtureScene:
    return write_dl3dv(tmp_path_factory.mktemp("dl3dv_outdoor"))


@pytest.fixture
def scene_copy(outdoor, tmp_path) -> tuple[Path, Path]:
    """A private copy of the outdoor fixture: (data root, scene folder)."""
    root = tmp_path / "data"
    shutil.copytree(outdoor.root, root)
    return root, scene_dir(root, ScaleTier.OUTDOOR)


def scene_dir(root: Path, tier: ScaleTier = ScaleTier.OUTDOOR, seed: int = 0, tier_folder: str = "") -> Path:
    return root / tier_folder / "1K" / scene_hash(tier, seed)


def only_item(root: Path):
    items = list(SOURCE.discover(root))
    assert len(items) == 1, items
    return items[0]


def similarity_parts(fixture: FixtureScene) -> tuple[float, np.ndarray, np.ndarray]:
    transform = fixture.dataset_from_synthetic
    scale = float(np.cbrt(np.linalg.det(transform[:3, :3])))
    return scale, transform[:3, :3] / scale, transform[:3, 3]


def to_synthetic(fixture: FixtureScene, camera_to_world: np.ndarray) -> np.ndarray:
    """Dataset-world OpenCV poses [K, 4, 4] mapped back into the synthetic world."""
    scale, rotation, translation = similarity_parts(fixture)
    out = np.array(camera_to_world, dtype=float)
    out[:, :3, :3] = rotation.T @ camera_to_world[:, :3, :3]
    out[:, :3, 3] = (camera_to_world[:, :3, 3] - translation) @ rotation / scale
    return out


def to_dataset(fixture: FixtureScene, points: np.ndarray) -> np.ndarray:
    return points @ fixture.dataset_from_synthetic[:3, :3].T + fixture.dataset_from_synthetic[:3, 3]


def project(k, camera_to_world: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Continuous pixel coordinates [N, 2] (pixel i spans [i, i + 1]) and camera depths [N]."""
    camera = (points - camera_to_world[:3, 3]) @ camera_to_world[:3, :3]
    uv = np.stack([k.fx * camera[:, 0] / camera[:, 2] + k.cx, k.fy * camera[:, 1] / camera[:, 2] + k.cy], axis=1)
    return uv, camera[:, 2]


def box_corners(center, size, yaw_deg) -> np.ndarray:
    c, s = math.cos(math.radians(yaw_deg)), math.sin(math.radians(yaw_deg))
    axes = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)
    return np.asarray(center) + (signs * np.asarray(size) / 2) @ axes.T


def renders(fixture: FixtureScene, tier: ScaleTier, seed: int = 0) -> np.ndarray:
    renderer = SceneRenderer(build_scene(tier, seed), fixture.intrinsics)
    return np.stack([renderer.render(pose).rgb for pose in fixture.camera_to_world])


def angle_deg(a: np.ndarray, b: np.ndarray) -> float:
    cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
    return math.degrees(math.acos(np.clip(cos, -1.0, 1.0)))


# 1. Round trip --------------------------------------------------------------------------------------------------


def test_round_trip_gives_the_generator_truth(outdoor):
    item = only_item(outdoor.root)
    folder = scene_dir(outdoor.root)
    assert (item.scene_id, item.uri, item.path, item.tier) == (outdoor.scene_id, f"1K/{folder.name}", folder,
                                                               ScaleTier.OUTDOOR)
    scene = SOURCE.read(outdoor.root, item, ALL_FRAMES)

    assert scene.scene_id == outdoor.scene_id and scene.source == "dl3dv" and scene.tier is ScaleTier.OUTDOOR
    assert scene.n_frames == 8 and scene.frame_indices == list(range(8))
    assert scene.fps == NOMINAL_FPS and scene.timestamps_s == pytest.approx([i / NOMINAL_FPS for i in range(8)])
    assert scene.content == [folder / "images_8" / f"frame_{i:05d}.png" for i in range(1, 9)]
    k, truth = scene.intrinsics, outdoor.intrinsics
    assert (k.width, k.height) == (truth.width, truth.height) == (240, 135)
    np.testing.assert_allclose([k.fx, k.fy, k.cx, k.cy], [truth.fx, truth.fy, truth.cx, truth.cy], rtol=1e-6)
    np.testing.assert_allclose(to_synthetic(outdoor, scene.camera_to_world), outdoor.camera_to_world,
                               rtol=1e-4, atol=1e-6)
    # zero distortion: the frames are the renders, byte for byte
    assert scene.rgb.dtype == np.uint8 and scene.rgb.shape == (8, 135, 240, 3)
    assert np.array_equal(scene.rgb, renders(outdoor, ScaleTier.OUTDOOR))
    # nothing the dataset lacks is invented
    assert scene.depth_m is None and scene.instance_ids is None and scene.boxes is None and not scene.categories
    producer = "native:dl3dv/transforms.json"
    assert scene.provenance == {Modality.INTRINSICS: producer, Modality.POSES: producer,
                                Modality.GRAVITY: ESTIMATED_FROM_CAMERAS}


def test_keyframes_follow_file_names_not_the_json_order(outdoor):
    listed = [f["file_path"] for f in json.loads((scene_dir(outdoor.root) / "transforms.json").read_text())["frames"]]
    assert listed != sorted(listed)  # the writer lists frames in COLMAP order, as DL3DV does
    scene = SOURCE.read(outdoor.root, only_item(outdoor.root), KeyframePolicy(stride=3, max_keyframes=10))
    assert scene.frame_indices == [0, 3, 6] and scene.n_frames == 8
    assert scene.timestamps_s == pytest.approx([0.0, 3 / NOMINAL_FPS, 6 / NOMINAL_FPS])
    np.testing.assert_allclose(to_synthetic(outdoor, scene.camera_to_world), outdoor.camera_to_world[[0, 3, 6]],
                               rtol=1e-4, atol=1e-6)
    for rgb, number in zip(scene.rgb, (1, 4, 7), strict=True):
        written = np.asarray(Image.open(scene_dir(outdoor.root) / "images_8" / f"frame_{number:05d}.png"))
        assert np.array_equal(rgb, written)


# 2. Conventions --------------------------------------------------------------------------------------------------


def test_intrinsics_are_divided_by_the_downscale_factor(outdoor):
    transforms = json.loads((scene_dir(outdoor.root) / "transforms.json").read_text())
    assert (transforms["w"], transforms["h"]) == (1920, 1080)  # the file describes the full resolution
    scene = SOURCE.read(outdoor.root, only_item(outdoor.root), KeyframePolicy(stride=1, max_keyframes=1))
    k = scene.intrinsics
    assert transforms["fl_x"] == pytest.approx(8 * k.fx) and transforms["cy"] == pytest.approx(8 * k.cy)
    assert (k.width, k.height) == (transforms["w"] // 8, transforms["h"] // 8) == (240, 135)
    assert scene.rgb.shape[1:3] == (k.height, k.width)


def test_known_points_project_to_their_pixels(outdoor):
    """Box corners, mapped into the dataset world, project with the emitted K and poses where the render camera puts
    them; a box centre lands on its own object in the rendered mask (an OpenGL pose read as OpenCV puts every point
    behind the camera; a K not divided by 8 puts it 8× too far from the principal point)."""
    scene = SOURCE.read(outdoor.root, only_item(outdoor.root), ALL_FRAMES)
    k, truth_k = scene.intrinsics, outdoor.intrinsics
    on_mask = 0
    for index, c2w, truth_c2w, mask in zip(scene.frame_indices, scene.camera_to_world, outdoor.camera_to_world,
                                           outdoor.masks, strict=True):
        for obj in outdoor.annotation.objects:
            box = obj.box
            corners = box_corners(box.center, box.size, box.yaw_deg)
            expected, depth = project(truth_k, truth_c2w, corners)
            emitted, _ = project(k, c2w, to_dataset(outdoor, corners))
            visible = depth > 0.1
            np.testing.assert_allclose(emitted[visible], expected[visible], atol=1e-3, err_msg=f"frame {index}")
            centre = np.array([box.center])
            (tu, tv), = project(truth_k, truth_c2w, centre)[0]
            col, row = math.floor(tu), math.floor(tv)
            if 1 <= col < k.width - 1 and 1 <= row < k.height - 1 and (
                    mask[row - 1:row + 2, col - 1:col + 2] == obj.instance_id).all():
                (u, v), = project(k, c2w, to_dataset(outdoor, centre))[0]
                assert mask[math.floor(v), math.floor(u)] == obj.instance_id, f"frame {index}, {obj.category}"
                on_mask += 1
    assert on_mask >= 5  # box centres that landed inside their own rendered object


def test_prefers_images_8_and_the_factor_follows_the_folder_read(scene_copy, outdoor):
    root, folder = scene_copy
    (folder / "images_4").mkdir()
    for png in sorted((folder / "images_8").glob("*.png")):
        big = cv2.resize(np.asarray(Image.open(png)), (480, 270), interpolation=cv2.INTER_NEAREST)
        Image.fromarray(big).save(folder / "images_4" / png.name)
    item = only_item(root)
    scene = SOURCE.read(root, item, ALL_FRAMES)
    assert scene.rgb.shape[1:3] == (135, 240) and scene.intrinsics.fx == pytest.approx(outdoor.intrinsics.fx)
    assert all(path.parent.name == "images_8" for path in scene.content)

    class FourFirst(DL3DVSource):  # the preference is a class setting
        downscales = (4, 8)

    scene = FourFirst().read(root, item, ALL_FRAMES)
    assert scene.rgb.shape[1:3] == (270, 480)
    assert (scene.intrinsics.fx, scene.intrinsics.cx) == pytest.approx((2 * outdoor.intrinsics.fx,
                                                                        2 * outdoor.intrinsics.cx))


def test_images_4_scene_round_trips(tmp_path):
    fixture = write_dl3dv(tmp_path, ScaleTier.OUTDOOR, seed=2, downscale=4, num_frames=3)
    scene = SOURCE.read(tmp_path, only_item(tmp_path), ALL_FRAMES)
    k, truth = scene.intrinsics, fixture.intrinsics
    assert (k.width, k.height) == (480, 270)
    np.testing.assert_allclose([k.fx, k.fy, k.cx, k.cy], [truth.fx, truth.fy, truth.cx, truth.cy], rtol=1e-6)
    np.testing.assert_allclose(to_synthetic(fixture, scene.camera_to_world), fixture.camera_to_world,
                               rtol=1e-4, atol=1e-6)


def test_non_metric_and_up_estimated_from_the_cameras(outdoor, tmp_path):
    assert SOURCE.native == frozenset({Modality.INTRINSICS, Modality.POSES})
    scene = SOURCE.read(outdoor.root, only_item(outdoor.root), KeyframePolicy(stride=4, max_keyframes=2))
    assert scene.metric is False and not scene.has(Modality.METRIC) and not scene.has(Modality.DEPTH)
    assert scene.provenance[Modality.GRAVITY] == ESTIMATED_FROM_CAMERAS
    _, rotation, _ = similarity_parts(outdoor)
    # the dataset's world is not z-up: the true up is about −y there
    assert angle_deg(rotation @ [0, 0, 1], np.array([0.0, -1.0, 0.0])) < 10
    # a drive down a street: up is estimated from every frame's pose (not only the keyframes'); the estimate commutes
    # with the similarity, and lands near the synthetic up
    np.testing.assert_allclose(scene.up, rotation @ estimate_up(outdoor.camera_to_world), atol=1e-6)
    assert angle_deg(rotation.T @ scene.up, np.array([0.0, 0.0, 1.0])) < 13

    # a camera circling a room at constant height: the path's plane gives gravity exactly
    indoor = write_dl3dv(tmp_path, ScaleTier.INDOOR, seed=0, num_frames=6, tier_folder="indoor")
    scene = SOURCE.read(tmp_path, only_item(tmp_path), ALL_FRAMES)
    _, rotation, _ = similarity_parts(indoor)
    assert angle_deg(rotation.T @ scene.up, np.array([0.0, 0.0, 1.0])) < 1.0


def test_tier_from_the_enclosing_folder_else_outdoor(tmp_path):
    write_dl3dv(tmp_path, ScaleTier.DRONE, seed=0, num_frames=4, tier_folder="drone")
    write_dl3dv(tmp_path, ScaleTier.INDOOR, seed=0, num_frames=4, tier_folder="indoor")
    write_dl3dv(tmp_path, ScaleTier.OUTDOOR, seed=0, num_frames=4)
    items = list(SOURCE.discover(tmp_path))
    assert [(item.uri.split("/")[0], item.tier) for item in items] == [
        ("1K", ScaleTier.OUTDOOR), ("drone", ScaleTier.DRONE), ("indoor", ScaleTier.INDOOR)]
    assert SOURCE.read(tmp_path, items[1], ALL_FRAMES).tier is ScaleTier.DRONE


def test_distorted_frames_are_undistorted(tmp_path):
    fixture = write_dl3dv(tmp_path, ScaleTier.OUTDOOR, seed=1, num_frames=3, distortion=DISTORTION)
    truth = renders(fixture, ScaleTier.OUTDOOR, seed=1).astype(float)
    folder = scene_dir(tmp_path, seed=1)
    written = np.stack([np.asarray(Image.open(folder / "images_8" / f"frame_{i:05d}.png")) for i in (1, 2, 3)])
    scene = SOURCE.read(tmp_path, only_item(tmp_path), ALL_FRAMES)
    assert scene.intrinsics.fx == pytest.approx(fixture.intrinsics.fx)  # the frames are put on the pinhole K
    inner = (slice(None), slice(4, -4), slice(4, -4))
    undistorted_error = np.abs(scene.rgb.astype(float) - truth)[inner].mean()
    distorted_error = np.abs(written.astype(float) - truth)[inner].mean()
    assert undistorted_error < 0.5 * distorted_error  # what is left is two bilinear resamplings of a fine texture

    # dots drawn at known places of a distorted frame end up where undistortPoints puts them
    k = scene.intrinsics
    distorted_at = np.array([[20.3, 15.7], [221.6, 18.2], [25.1, 118.4], [214.8, 121.9], [122.0, 66.0]])
    rows, cols = np.mgrid[0:k.height, 0:k.width] + 0.5  # pixel centres
    dots = sum(np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * 1.3 ** 2)) for x, y in distorted_at)
    Image.fromarray(np.repeat((255 * dots)[..., None], 3, axis=2).round().astype(np.uint8)).save(
        folder / "images_8" / "frame_00001.png")
    image = SOURCE.read(tmp_path, only_item(tmp_path), KeyframePolicy(stride=1, max_keyframes=1)).rgb[0, ..., 0]
    k_cv = np.array([[k.fx, 0, k.cx - 0.5], [0, k.fy, k.cy - 0.5], [0, 0, 1]])  # OpenCV: pixel i's centre at i
    expected = cv2.undistortPoints((distorted_at - 0.5).reshape(-1, 1, 2), k_cv, np.array(DISTORTION), P=k_cv,
                                   criteria=(cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12))
    expected = expected.reshape(-1, 2) + 0.5
    assert np.abs(expected - distorted_at).max() > 3.0  # the corner dots move by pixels
    for (x, y) in expected:
        near = (np.abs(cols - x) < 5) & (np.abs(rows - y) < 5)
        weight = image * near
        centroid = np.array([(weight * cols).sum(), (weight * rows).sum()]) / weight.sum()
        np.testing.assert_allclose(centroid, (x, y), atol=0.06)  # 0.12 px off with OpenCV given the +0.5 K


# 3. Bad input ----------------------------------------------------------------------------------------------------


def edit_json(folder: Path, change: Callable[[dict], None]) -> Path:
    path = folder / "transforms.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    return path


def no_frames(folder):
    return edit_json(folder, lambda d: d.update(frames=[])), r"frames: empty"


def missing_image(folder):
    (folder / "images_8" / "frame_00003.png").unlink()
    return folder / "images_8" / "frame_00003.png", r"missing \(frame 'frame_00003.png'"


def corrupt_json(folder):
    (folder / "transforms.json").write_text('{"w": 1920, "h": 1080, "frames": [')
    return folder / "transforms.json", r"not valid JSON \(.*line 1"


def singular_k(folder):
    return edit_json(folder, lambda d: d.update(fl_x=0)), r"fl_x: singular intrinsics"


def wrong_size(folder):
    return folder / "images_8" / "frame_00001.png", r"image is 240×135, but .*transforms.json w, h give 250×135"


def not_rotation(folder):
    def change(data):
        matrix = np.array(data["frames"][2]["transform_matrix"])
        matrix[:3, :3] *= 1.5
        data["frames"][2]["transform_matrix"] = matrix.tolist()
    return edit_json(folder, change), r"frames\[2\] \(images/frame_\d+\.png\): transform_matrix: not a rotation"


def no_image_folder(folder):
    (folder / "images_8").rename(folder / "imgs")
    return folder, r"no frame folder \(images_8/, images_4/, images_2/, images/\)"


def wrong_shape(folder):
    def change(data):
        data["frames"][1]["transform_matrix"] = data["frames"][1]["transform_matrix"][:3]
    return edit_json(folder, change), r"frames\[1\] .*transform_matrix: not a finite 4×4 matrix"


def missing_focal(folder):
    return edit_json(folder, lambda d: d.pop("fl_y")), r"fl_y: missing"


def fisheye(folder):
    return edit_json(folder, lambda d: d.update(camera_model="OPENCV_FISHEYE")), r"camera_model: 'OPENCV_FISHEYE'"


def no_file_path(folder):
    return edit_json(folder, lambda d: d["frames"][0].pop("file_path")), r"frames\[0\]: file_path: missing"


def garbage_image(folder):
    (folder / "images_8" / "frame_00001.png").write_bytes(b"not a png")
    return folder / "images_8" / "frame_00001.png", r"unreadable image"


BAD_INPUTS = [no_frames, missing_image, corrupt_json, singular_k, wrong_size, not_rotation, no_image_folder,
              wrong_shape, missing_focal, fisheye, no_file_path, garbage_image]


@pytest.mark.parametrize("breakage", BAD_INPUTS, ids=[b.__name__ for b in BAD_INPUTS])
def test_bad_input_names_the_file_and_the_field(scene_copy, breakage):
    root, folder = scene_copy
    if breakage is wrong_size:
        edit_json(folder, lambda d: d.update(w=2000))
    path, field = breakage(folder)
    item = only_item(root)  # discovery still lists the broken scene
    with pytest.raises(SourceError, match=re.escape(str(path)) + r".*" + field):
        SOURCE.read(root, item, ALL_FRAMES)


def test_discover_lists_broken_scenes_too(scene_copy):
    root, folder = scene_copy
    broken = root / "1K" / ("0" * 64)
    broken.mkdir()
    (broken / "transforms.json").write_text("{")  # no frames folder, corrupt JSON
    items = list(SOURCE.discover(root))
    assert [item.path for item in items] == [broken, folder]
    assert items[0].scene_id == "dl3dv_000000000000"
    with pytest.raises(SourceError, match="not valid JSON"):
        SOURCE.read(root, items[0], ALL_FRAMES)


def test_scene_ids_of_other_layouts(scene_copy):
    root, folder = scene_copy
    sample = root / "samples" / scene_hash(ScaleTier.OUTDOOR, 5) / "colmap"  # DL3DV-10K-Sample: <hash>/colmap/
    plain = root / "my scene"
    for target in (sample, plain):
        shutil.copytree(folder, target)
    ids = {item.path: item.scene_id for item in SOURCE.discover(root)}
    assert ids[sample] == f"dl3dv_{scene_hash(ScaleTier.OUTDOOR, 5)[:12]}__colmap"
    assert ids[plain] == "dl3dv_my_scene"
    assert len(set(ids.values())) == 3


# 4. Detection ----------------------------------------------------------------------------------------------------


def test_detect(outdoor, tmp_path):
    assert SOURCE.detect(outdoor.root)
    assert SOURCE.detect(scene_dir(outdoor.root))  # a root that is one scene folder
    tiered = tmp_path / "tiered"
    write_dl3dv(tiered, ScaleTier.DRONE, num_frames=4, tier_folder="drone")
    assert SOURCE.detect(tiered)

    empty = tmp_path / "empty"
    empty.mkdir()
    videos = tmp_path / "videos" / "outdoor"
    videos.mkdir(parents=True)
    (videos / "clip.mp4").write_bytes(b"\x00" * 64)
    nerfstudio_only = tmp_path / "scannetpp" / "scene" / "dslr" / "nerfstudio"  # transforms.json, frames elsewhere
    nerfstudio_only.mkdir(parents=True)
    (nerfstudio_only / "transforms.json").write_text('{"frames": []}')
    annotated = tmp_path / "annotated" / "scene_a"
    (annotated / "frames").mkdir(parents=True)
    (annotated / "scene.json").write_text("{}")
    for other in (empty, videos.parent, nerfstudio_only.parents[2], annotated.parent):
        assert not SOURCE.detect(other), other
