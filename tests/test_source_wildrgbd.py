"""WildRGB-D source: round trip against the generator's truth, the dataset's conventions, bad input, detection."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.spatial import ConvexHull

from schemas.paths import OutsideDataRootError
from schemas.tiers import ScaleTier
from sources.contract import KeyframePolicy, Modality, SourceError
from sources.gravity import ESTIMATED_FROM_CAMERAS
from sources.synthetic import SceneRenderer, build_scene
from sources.synthetic.geometry import box_corners, yaw_rotation
from sources.wildrgbd import FRAME_RATE, WildRGBDSource
from tests.datasets.wildrgbd_writer import foreground_object, write_wildrgbd

SOURCE = WildRGBDSource()
ALL_FRAMES = KeyframePolicy(stride=1, max_keyframes=1000)
DEPTH_QUANTUM_M = 0.0005  # mm PNG: rounding error at most half a millimetre


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    return write_wildrgbd(tmp_path_factory.mktemp("wildrgbd") / "data")


@pytest.fixture(scope="module")
def inputs(pristine):
    return read_only_item(pristine.root)


@pytest.fixture
def copy(pristine, tmp_path):
    """A writable copy of the pristine fixture, and its scene folder."""
    root = tmp_path / "data"
    shutil.copytree(pristine.root, root)
    return root, next(root.glob("*/scenes/*"))


def read_only_item(root: Path, policy: KeyframePolicy = ALL_FRAMES):
    (item,) = SOURCE.discover(root)
    return SOURCE.read(root, item, policy)


def to_synthetic(fixture, points: np.ndarray) -> np.ndarray:
    inverse = np.linalg.inv(fixture.dataset_from_synthetic)
    return points @ inverse[:3, :3].T + inverse[:3, 3]


def to_synthetic_poses(fixture, camera_to_world: np.ndarray) -> np.ndarray:
    return np.linalg.inv(fixture.dataset_from_synthetic) @ camera_to_world


def to_dataset(fixture, points: np.ndarray) -> np.ndarray:
    transform = fixture.dataset_from_synthetic
    return points @ transform[:3, :3].T + transform[:3, 3]


def project(k, camera_to_world: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Pixel coordinates [N, 2] in the pixel-centre convention (centre of pixel (i, j) at (i + 0.5, j + 0.5))."""
    camera = (points - camera_to_world[:3, 3]) @ camera_to_world[:3, :3]
    assert (camera[:, 2] > 0).all()
    return np.stack([k.fx * camera[:, 0] / camera[:, 2] + k.cx, k.fy * camera[:, 1] / camera[:, 2] + k.cy], axis=1)


def distance_outside_hull(mask: np.ndarray, corners_px: np.ndarray) -> float:
    """How far (px) the mask's farthest pixel centre lies outside the convex hull of the projected corners."""
    rows, cols = np.nonzero(mask)
    centres = np.stack([cols + 0.5, rows + 0.5], axis=1)
    equations = ConvexHull(corners_px).equations  # unit outward normals: n·x + b > 0 outside
    return float((centres @ equations[:, :2].T + equations[:, 2]).max())


def rendered(fixture):
    scene = build_scene(fixture.tier, fixture.annotation.seed)
    renderer = SceneRenderer(scene, fixture.intrinsics)
    return [renderer.render(pose) for pose in fixture.camera_to_world]


# --- round trip ---------------------------------------------------------------------------------------------------

def test_round_trip_matches_the_generator(pristine, inputs):
    target = foreground_object(pristine.annotation)
    k, truth = inputs.intrinsics, pristine.intrinsics
    assert (k.width, k.height) == (truth.width, truth.height) == (256, 192)
    np.testing.assert_allclose([k.fx, k.fy, k.cx, k.cy], [truth.fx, truth.fy, truth.cx, truth.cy], rtol=1e-9)

    assert inputs.scene_id == pristine.scene_id == f"{target.category}__scene_0"
    assert inputs.frame_indices == list(range(8)) and inputs.n_frames == 8
    np.testing.assert_allclose(to_synthetic_poses(pristine, inputs.camera_to_world), pristine.camera_to_world,
                               atol=1e-9)
    frames = rendered(pristine)
    np.testing.assert_array_equal(inputs.rgb, np.stack([f.rgb for f in frames]))
    depth = np.stack([f.depth for f in frames])
    assert inputs.depth_m.dtype == np.float32 and inputs.depth_m.shape == (8, 192, 256)
    assert np.abs(inputs.depth_m - depth).max() <= DEPTH_QUANTUM_M + 1e-6
    np.testing.assert_array_equal(inputs.depth_m == 0, depth == 0)
    np.testing.assert_array_equal(inputs.instance_ids, np.where(pristine.masks == target.instance_id, 1, 0))
    assert inputs.instance_ids.dtype == np.uint16 and inputs.instance_ids.any()
    assert inputs.categories == {1: target.category}
    assert inputs.boxes is None and inputs.tier is None and inputs.metric
    assert inputs.fps == FRAME_RATE and inputs.timestamps_s == [i / FRAME_RATE for i in range(8)]
    assert inputs.content == [pristine.root.resolve() / target.category / "scenes/scene_0/rgb" / f"{i:05d}.png"
                              for i in range(8)]
    assert set(inputs.provenance) == set(SOURCE.native) | {Modality.GRAVITY}
    assert all(inputs.provenance[m].startswith("native:wildrgbd/") for m in SOURCE.native)
    assert inputs.provenance[Modality.CATEGORIES] == f"native:wildrgbd/{target.category}"


def test_keyframes_follow_the_policy(pristine):
    policy = KeyframePolicy(stride=2, max_keyframes=3)
    inputs = read_only_item(pristine.root, policy)
    assert inputs.frame_indices == policy.select(8) == [0, 4, 6]
    assert inputs.n_frames == 8 and len(inputs.content) == 8
    assert inputs.rgb.shape[0] == inputs.depth_m.shape[0] == inputs.instance_ids.shape[0] == 3
    np.testing.assert_allclose(to_synthetic_poses(pristine, inputs.camera_to_world),
                               pristine.camera_to_world[[0, 4, 6]], atol=1e-9)
    assert inputs.timestamps_s == [0.0, 4 / FRAME_RATE, 6 / FRAME_RATE]


# --- conventions --------------------------------------------------------------------------------------------------

def test_k_is_read_column_major(pristine, inputs):
    """The box corners project with the emitted K and pose where the render K puts them, and the rendered mask lies
    inside their hull; the same K read without the transpose puts them far away."""
    corners = box_corners(foreground_object(pristine.annotation).box)
    stored = np.asarray(json.loads(next(pristine.root.glob("*/scenes/*/metadata")).read_text())["K"])
    untransposed = stored.reshape(3, 3)
    assert untransposed[2, 0] != 0 and untransposed[0, 2] == 0  # the fixture stores cx, cy in the bottom row
    for frame in range(8):
        expected = project(pristine.intrinsics, pristine.camera_to_world[frame], corners)
        emitted = project(inputs.intrinsics, inputs.camera_to_world[frame], to_dataset(pristine, corners))
        np.testing.assert_allclose(emitted, expected, atol=1e-6)
        assert distance_outside_hull(inputs.instance_ids[frame] > 0, emitted) < 0.01
        camera = ((to_dataset(pristine, corners) - inputs.camera_to_world[frame][:3, 3])
                  @ inputs.camera_to_world[frame][:3, :3])
        naive = camera @ untransposed.T
        assert np.abs(naive[:, :2] / naive[:, 2:] - expected).max() > 20


def test_principal_point_moves_to_pixel_centres(pristine, inputs):
    """WildRGB-D's K is for integer-index pixels: without the + 0.5 the rendered silhouette leaves the hull of the
    projected corners by about half a pixel."""
    corners = to_dataset(pristine, box_corners(foreground_object(pristine.annotation).box))
    k = inputs.intrinsics
    integer_index = k.model_copy(update={"cx": k.cx - 0.5, "cy": k.cy - 0.5})
    for frame in range(8):
        mask, pose = inputs.instance_ids[frame] > 0, inputs.camera_to_world[frame]
        assert distance_outside_hull(mask, project(k, pose, corners)) < 0.01
        assert distance_outside_hull(mask, project(integer_index, pose, corners)) > 0.1


def test_poses_are_camera_to_world(pristine, inputs):
    """The camera centres are the lines' translations, and the object's centre projects where the render put it; the
    same lines read as world-to-camera put the cameras elsewhere and the object off its pixel."""
    centre = np.asarray([foreground_object(pristine.annotation).box.center])
    k = inputs.intrinsics
    for frame in range(8):
        pose, truth = inputs.camera_to_world[frame], pristine.camera_to_world[frame]
        np.testing.assert_allclose(pose[:3, 3], to_dataset(pristine, truth[None, :3, 3])[0], atol=1e-9)
        expected = project(pristine.intrinsics, truth, centre)
        np.testing.assert_allclose(project(k, pose, to_dataset(pristine, centre)), expected, atol=1e-6)
        as_w2c = np.linalg.inv(pose)
        assert np.linalg.norm(as_w2c[:3, 3] - pose[:3, 3]) > 0.1
        camera = (to_dataset(pristine, centre) - as_w2c[:3, 3]) @ as_w2c[:3, :3]
        wrong = camera[:, :2] / camera[:, 2:] * [k.fx, k.fy] + [k.cx, k.cy]
        assert camera[0, 2] <= 0 or np.abs(wrong - expected).max() > 20


@pytest.mark.parametrize("tier", [ScaleTier.TABLETOP, ScaleTier.TINY_TABLETOP])
def test_fused_masked_depth_measures_the_object_in_metres(tmp_path, tier):
    fixture = write_wildrgbd(tmp_path, tier)
    inputs = read_only_item(tmp_path)
    k = inputs.intrinsics
    points = []
    for frame in range(len(inputs.frame_indices)):
        rows, cols = np.nonzero((inputs.instance_ids[frame] > 0) & (inputs.depth_m[frame] > 0))
        depth = inputs.depth_m[frame][rows, cols].astype(float)
        camera = np.stack([(cols + 0.5 - k.cx) / k.fx * depth, (rows + 0.5 - k.cy) / k.fy * depth, depth], axis=1)
        pose = inputs.camera_to_world[frame]
        points.append(camera @ pose[:3, :3].T + pose[:3, 3])
    box = foreground_object(fixture.annotation).box
    local = (to_synthetic(fixture, np.concatenate(points)) - np.asarray(box.center)) @ yaw_rotation(box.yaw_deg)
    extents = local.max(axis=0) - local.min(axis=0)
    np.testing.assert_allclose(extents, box.size, atol=3 * DEPTH_QUANTUM_M)


def test_up_is_estimated_from_the_orbit_and_flagged(pristine, inputs):
    truth_up = pristine.dataset_from_synthetic[:3, :3] @ [0.0, 0.0, 1.0]
    assert np.degrees(np.arccos(np.clip(inputs.up @ truth_up, -1, 1))) < 1.0
    assert inputs.provenance[Modality.GRAVITY] == ESTIMATED_FROM_CAMERAS
    assert Modality.GRAVITY not in SOURCE.native


# --- bad input ----------------------------------------------------------------------------------------------------

def _edit_pose_lines(scene: Path, edit) -> None:
    path = scene / "cam_poses.txt"
    lines = path.read_text().splitlines()
    edit(lines)
    path.write_text("\n".join(lines) + "\n")


def _edit_metadata(scene: Path, edit) -> None:
    meta = json.loads((scene / "metadata").read_text())
    edit(meta)
    (scene / "metadata").write_text(json.dumps(meta))


def _scale_rotation(lines: list[str], index: int) -> None:
    values = lines[index].split()
    lines[index] = " ".join([values[0], *(str(float(v) * 1.1) if i % 4 != 3 and i < 12 else v
                                          for i, v in enumerate(values[1:]))])


def _renumber(lines: list[str], index: int, frame_id: int) -> None:
    lines[index] = " ".join([str(frame_id), *lines[index].split()[1:]])


def _row_major_k(meta: dict) -> None:
    meta["K"] = np.asarray(meta["K"]).reshape(3, 3).T.ravel().tolist()


CORRUPTIONS = {
    "frame without a pose line": (lambda s: _edit_pose_lines(s, lambda lines: lines.pop()),
                                  ["cam_poses.txt", "frame 7", "00007.png"]),
    "depth of the wrong size": (lambda s: Image.fromarray(np.zeros((96, 128), np.uint16)).save(s / "depth/00003.png"),
                                ["depth/00003.png", "128×96"]),
    "singular K": (lambda s: _edit_metadata(s, lambda m: m["K"].__setitem__(0, 0.0)), ["metadata", "fx=0.0"]),
    "corrupt JSON metadata": (lambda s: (s / "metadata").write_text('{"K": [1, 0,'), ["metadata", "JSON"]),
    "K stored row-major": (lambda s: _edit_metadata(s, _row_major_k), ["metadata", "K", "column-major"]),
    "metadata without w": (lambda s: _edit_metadata(s, lambda m: m.pop("w")), ["metadata", "'w'"]),
    "non-rotation pose": (lambda s: _edit_pose_lines(s, lambda lines: _scale_rotation(lines, 2)),
                          ["cam_poses.txt: line 3", "rotation"]),
    "ids not running 0…N−1": (lambda s: _edit_pose_lines(s, lambda lines: _renumber(lines, 3, 9)),
                              ["cam_poses.txt: line 4", "frame id 9", "expected 3"]),
    "short pose line": (lambda s: _edit_pose_lines(s, lambda lines: lines.__setitem__(1, lines[1].rsplit(" ", 1)[0])),
                        ["cam_poses.txt: line 2", "16 numbers"]),
    "missing rgb frame": (lambda s: (s / "rgb/00002.png").unlink(), ["rgb/00002.png", "missing"]),
    "missing depth frame": (lambda s: (s / "depth/00005.png").unlink(), ["depth/00005.png", "missing"]),
    "missing poses": (lambda s: (s / "cam_poses.txt").unlink(), ["cam_poses.txt", "missing"]),
    "colour mask": (lambda s: Image.new("RGB", (256, 192)).save(s / "masks/00004.png"),
                    ["masks/00004.png", "mode RGB"]),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_bad_input_names_the_file_and_field(copy, corruption):
    root, scene = copy
    corrupt, expected = CORRUPTIONS[corruption]
    corrupt(scene)
    with pytest.raises(SourceError) as caught:
        read_only_item(root)
    for fragment in expected:
        assert fragment in str(caught.value), f"{fragment!r} not in {caught.value}"


def test_a_frame_linked_outside_the_root_is_refused(copy, tmp_path):
    root, scene = copy
    outside = tmp_path / "outside.png"
    shutil.copy(scene / "rgb/00001.png", outside)
    (scene / "rgb/00001.png").unlink()
    (scene / "rgb/00001.png").symlink_to(outside)
    with pytest.raises(OutsideDataRootError, match="00001.png"):
        read_only_item(root)


# --- discovery and detection --------------------------------------------------------------------------------------

def test_discover_lists_every_scene_of_every_category(tmp_path):
    root = tmp_path / "data"
    write_wildrgbd(root, seed=0, category="cup", num_frames=3)
    write_wildrgbd(root, seed=1, category="cup", num_frames=3)
    write_wildrgbd(root, seed=0, category="mug", num_frames=3)
    (root / "mug/scenes/scene_7").mkdir()  # unreadable: still listed, read() says why
    items = list(SOURCE.discover(root))
    assert [i.scene_id for i in items] == ["cup__scene_0", "cup__scene_1", "mug__scene_0", "mug__scene_7"]
    assert [i.uri for i in items] == ["cup/scenes/scene_0", "cup/scenes/scene_1", "mug/scenes/scene_0",
                                      "mug/scenes/scene_7"]
    assert all(i.source == "wildrgbd" and i.annotations_dir == i.path and i.tier is None for i in items)
    assert SOURCE.read(root, items[2], ALL_FRAMES).categories == {1: "mug"}
    with pytest.raises(SourceError, match="scene_7/metadata: missing"):
        SOURCE.read(root, items[3], ALL_FRAMES)
    assert json.loads((root / "cup/types.json").read_text()) == {"scene_0": "single", "scene_1": "single"}
    assert json.loads((root / "cup/nvs_list.json").read_text())["train"] == ["scenes/scene_0", "scenes/scene_1"]
    category_root = [i.scene_id for i in SOURCE.discover(root / "cup")]
    assert category_root == ["cup__scene_0", "cup__scene_1"]


def test_detect(pristine, tmp_path):
    assert SOURCE.detect(pristine.root)
    assert SOURCE.detect(next(pristine.root.iterdir()))  # one category folder as the root
    empty = tmp_path / "empty"
    empty.mkdir()
    videos = tmp_path / "videos"
    (videos / "kitchen").mkdir(parents=True)
    (videos / "kitchen/a.mp4").write_bytes(b"\0")
    annotated = tmp_path / "annotated/scene_a"
    annotated.mkdir(parents=True)
    (annotated / "scene.json").write_text("{}")
    dl3dv = tmp_path / "dl3dv/1K/" / ("a" * 64)
    dl3dv.mkdir(parents=True)
    (dl3dv / "transforms.json").write_text("{}")
    arkit = tmp_path / "arkit/Training/41069025"
    arkit.mkdir(parents=True)
    (arkit / "41069025_3dod_annotation.json").write_text("{}")
    no_poses = tmp_path / "no_poses/cup/scenes/scene_1"
    no_poses.mkdir(parents=True)
    for root in (empty, videos, tmp_path / "annotated", tmp_path / "dl3dv", tmp_path / "arkit",
                 tmp_path / "no_poses", tmp_path / "missing"):
        assert not SOURCE.detect(root), root
