"""nuScenes source: round trip against the generator's truth, the dataset's conventions, bad input, detection."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from schemas.tiers import ScaleTier
from sources.contract import KeyframePolicy, Modality, SceneInputs, SourceError
from sources.nuscenes import category_word, quaternion_matrix
from sources.registry import get_source
from sources.synthetic import SceneRenderer, build_scene
from sources.synthetic.geometry import box_corners
from tests.datasets import FixtureScene
from tests.datasets.nuscenes_writer import (CHANNEL, DATASET_YAW_DEG, LIDAR, LIDAR_PIXEL_STEP, rotation_x, rotation_z,
                                            write_nuscenes)

POLICY = KeyframePolicy(stride=1, max_keyframes=12)
VERSION = "v1.0-mini"


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> FixtureScene:
    return write_nuscenes(tmp_path_factory.mktemp("nuscenes"))


@pytest.fixture(scope="module")
def inputs(written) -> SceneInputs:
    return read(written.root)


def source():
    return get_source("nuscenes")


def read(root: Path, scene: str = "scene-0000", policy: KeyframePolicy = POLICY) -> SceneInputs:
    item = next(i for i in source().discover(root) if i.uri.endswith(f"#{scene}"))
    return source().read(root, item, policy)


def table(root: Path, name: str) -> list[dict]:
    return json.loads((root / VERSION / f"{name}.json").read_text())


def edit(root: Path, name: str, change) -> None:
    """Rewrite one table through `change(records)`."""
    records = table(root, name)
    change(records)
    (root / VERSION / f"{name}.json").write_text(json.dumps(records))


def camera_keyframes(root: Path) -> list[dict]:
    sensors = {s["token"]: s["channel"] for s in table(root, "sensor")}
    channel = {c["token"]: sensors[c["sensor_token"]] for c in table(root, "calibrated_sensor")}
    return sorted((r for r in table(root, "sample_data")
                   if r["is_key_frame"] and channel[r["calibrated_sensor_token"]] == CHANNEL),
                  key=lambda r: r["timestamp"])


def lidar_keyframes(root: Path) -> dict[str, dict]:
    sensors = {s["token"]: s["channel"] for s in table(root, "sensor")}
    channel = {c["token"]: sensors[c["sensor_token"]] for c in table(root, "calibrated_sensor")}
    return {r["sample_token"]: r for r in table(root, "sample_data") if channel[r["calibrated_sensor_token"]] == LIDAR}


def project(points: np.ndarray, camera_to_world: np.ndarray, k) -> np.ndarray:
    """Pixel coordinates (this project's convention) and depth of world points."""
    local = (points - camera_to_world[:3, 3]) @ camera_to_world[:3, :3]
    return np.stack([k.fx * local[:, 0] / local[:, 2] + k.cx, k.fy * local[:, 1] / local[:, 2] + k.cy,
                     local[:, 2]], axis=1)


def rendered(written: FixtureScene):
    scene = build_scene(ScaleTier.OUTDOOR, 0)
    renderer = SceneRenderer(scene, written.intrinsics)
    return [renderer.render(pose) for pose in written.camera_to_world]


def in_dataset(written: FixtureScene, points: np.ndarray) -> np.ndarray:
    d = written.dataset_from_synthetic
    return points @ d[:3, :3].T + d[:3, 3]


# ---------------------------------------------------------------------------------------------------------------
# Round trip


def test_round_trip_matches_the_generator(written, inputs):
    k, truth_k = inputs.intrinsics, written.intrinsics
    assert (k.width, k.height) == (truth_k.width, truth_k.height) == (320, 180)
    np.testing.assert_allclose([k.fx, k.fy, k.cx, k.cy], [truth_k.fx, truth_k.fy, truth_k.cx, truth_k.cy], rtol=1e-9)
    expected_poses = written.dataset_from_synthetic @ written.camera_to_world
    np.testing.assert_allclose(inputs.camera_to_world, expected_poses, rtol=1e-4, atol=1e-6)

    frames = rendered(written)
    assert inputs.rgb.shape == (4, 180, 320, 3) and inputs.rgb.dtype == np.uint8
    for rgb, frame in zip(inputs.rgb, frames):
        assert np.abs(rgb.astype(int) - frame.rgb.astype(int)).mean() < 4.0  # JPEG quality 95

    assert inputs.frame_indices == [0, 1, 2, 3] and inputs.n_frames == 4
    stamps = [r["timestamp"] for r in camera_keyframes(written.root)]
    assert inputs.timestamps_s == pytest.approx([(t - stamps[0]) / 1e6 for t in stamps])
    assert inputs.fps == pytest.approx(1e6 / np.median(np.diff(stamps)))
    assert [p.relative_to(written.root).as_posix() for p in inputs.content] == [
        r["filename"] for r in camera_keyframes(written.root)]
    assert all(p.parts[-3:-1] == ("samples", CHANNEL) for p in inputs.content)  # no sweeps

    assert inputs.scene_id == written.scene_id == "nuscenes_scene-0000"
    assert inputs.tier == ScaleTier.OUTDOOR and inputs.metric and not inputs.depth_dense
    np.testing.assert_array_equal(inputs.up, [0.0, 0.0, 1.0])
    assert inputs.provenance[Modality.DEPTH] == "native:nuscenes/LIDAR_TOP"
    assert set(inputs.provenance) == set(source().native)
    assert inputs.instance_ids is None


def test_boxes_equal_the_generator_truth(written, inputs):
    objects = written.annotation.objects
    assert [b.instance_id for b in inputs.boxes] == list(range(1, len(objects) + 1))
    assert inputs.categories == {o.instance_id: o.category for o in objects}
    for obj, box in zip(objects, inputs.boxes):
        assert box.instance_id == obj.instance_id and box.category == obj.category
        np.testing.assert_allclose(box.center, in_dataset(written, np.array([obj.box.center]))[0], atol=1e-6)
        np.testing.assert_allclose(box.size, obj.box.size, rtol=1e-9)  # (length, width, height)
        np.testing.assert_allclose(box.rotation, rotation_z(obj.box.yaw_deg + DATASET_YAW_DEG), atol=1e-9)
        np.testing.assert_allclose(np.sort(box.corners(), axis=0),
                                   np.sort(in_dataset(written, box_corners(obj.box)), axis=0), atol=1e-6)


def test_keyframe_policy_thins_frames(written):
    thinned = read(written.root, policy=KeyframePolicy(stride=2, max_keyframes=12))
    assert thinned.frame_indices == [0, 2] and thinned.n_frames == 4 and len(thinned.content) == 4
    assert thinned.rgb.shape[0] == thinned.depth_m.shape[0] == thinned.camera_to_world.shape[0] == 2
    np.testing.assert_allclose(thinned.camera_to_world,
                               written.dataset_from_synthetic @ written.camera_to_world[[0, 2]], atol=1e-6)


# ---------------------------------------------------------------------------------------------------------------
# Conventions


def test_fixture_follows_the_devkit_projection(written):
    """The writer's K is nuScenes': the devkit's get_sample_data + view_points on the raw camera_intrinsic land on
    the render's pixel minus half a pixel (the devkit's pixel centre is at the integer index)."""
    records = {name: {r["token"]: r for r in table(written.root, name)}
               for name in ("ego_pose", "calibrated_sensor", "sample_annotation")}
    sd = camera_keyframes(written.root)[0]
    pose, cs = records["ego_pose"][sd["ego_pose_token"]], records["calibrated_sensor"][sd["calibrated_sensor_token"]]
    bus = next(o for o in written.annotation.objects if o.category in ("bus", "truck"))
    ann = next(a for a in records["sample_annotation"].values() if a["sample_token"] == sd["sample_token"]
               and a["translation"] == pytest.approx(in_dataset(written, np.array([bus.box.center]))[0].tolist()))
    w, length, h = ann["size"]
    local = np.array([[sx * length / 2, sy * w / 2, sz * h / 2] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)])
    corners = local @ _quaternion_reference(ann["rotation"]).T + ann["translation"]  # Box.corners()
    ego = (corners - pose["translation"]) @ _quaternion_reference(pose["rotation"])  # box.translate, rotate(q⁻¹)
    cam = (ego - cs["translation"]) @ _quaternion_reference(cs["rotation"])
    view = cam @ np.asarray(cs["camera_intrinsic"]).T  # view_points(…, normalize=True)
    devkit_uv = view[:, :2] / view[:, 2:3]
    truth = project(box_corners(bus.box), written.camera_to_world[0], written.intrinsics)
    np.testing.assert_allclose(devkit_uv + 0.5, truth[:, :2], atol=1e-6)


def test_box_corners_project_to_the_rendered_pixels(written, inputs):
    checked = 0
    for n, frame_mask in enumerate(written.masks):
        for obj, box in zip(written.annotation.objects, inputs.boxes):
            truth = project(box_corners(obj.box), written.camera_to_world[n], written.intrinsics)
            if (truth[:, 2] < 1.0).any():
                continue
            emitted = project(box.corners(), inputs.camera_to_world[n], inputs.intrinsics)
            np.testing.assert_allclose(np.sort(emitted[:, :2], axis=0), np.sort(truth[:, :2], axis=0), atol=1e-4)
            rows, cols = np.nonzero(frame_mask == obj.instance_id)
            if len(rows) < 20:
                continue
            # every pixel the renderer gave the object has its centre inside the projected box's bounds
            assert (cols + 0.5 >= emitted[:, 0].min() - 1e-6).all() and (cols + 0.5 <= emitted[:, 0].max() + 1e-6).all()
            assert (rows + 0.5 >= emitted[:, 1].min() - 1e-6).all() and (rows + 0.5 <= emitted[:, 1].max() + 1e-6).all()
            checked += 1
    assert checked >= 4


def test_long_vehicle_length_lies_along_its_heading(written, inputs):
    obj = next(o for o in written.annotation.objects if o.category in ("bus", "truck"))
    box = inputs.boxes[obj.instance_id - 1]
    ann = next(a for a in table(written.root, "sample_annotation")
               if a["translation"] == pytest.approx(box.center.tolist()))
    assert ann["size"][0] < ann["size"][1]  # nuScenes writes [width, length, height]
    assert box.size[0] == ann["size"][1] and box.size[1] == ann["size"][0] and box.size[0] > 2.5 * box.size[1]
    heading = math.radians(obj.box.yaw_deg + DATASET_YAW_DEG)
    assert abs(box.rotation[:, 0] @ [math.cos(heading), math.sin(heading), 0.0]) == pytest.approx(1.0, abs=1e-9)
    corners = in_dataset(written, box_corners(obj.box))
    along = (corners - box.center) @ box.rotation[:, 0]
    assert along.max() - along.min() == pytest.approx(box.size[0], abs=1e-6)


def test_quaternions_are_read_w_x_y_z(tmp_path):
    angle = math.radians(40.0)
    np.testing.assert_allclose(quaternion_matrix([math.cos(angle / 2), math.sin(angle / 2), 0, 0], "q"),
                               rotation_x(40.0), atol=1e-12)
    np.testing.assert_allclose(quaternion_matrix([math.cos(angle / 2), 0, 0, math.sin(angle / 2)], "q"),
                               rotation_z(40.0), atol=1e-12)
    # The same fixture with its box quaternions stored x, y, z, w no longer gives the generator's boxes.
    written = write_nuscenes(tmp_path)
    edit(written.root, "sample_annotation",
         lambda records: [r.update(rotation=r["rotation"][1:] + r["rotation"][:1]) for r in records])
    boxes = read(written.root).boxes
    errors = [np.abs(b.rotation - rotation_z(o.box.yaw_deg + DATASET_YAW_DEG)).max()
              for o, b in zip(written.annotation.objects, boxes)]
    assert min(errors) > 0.5


def test_camera_pose_uses_its_own_sample_data_ego_pose(tmp_path):
    written = write_nuscenes(tmp_path)
    inputs = read(written.root)
    poses = {r["token"]: r for r in table(written.root, "ego_pose")}
    lidars = lidar_keyframes(written.root)
    for n, camera in enumerate(camera_keyframes(written.root)):
        own = np.asarray(poses[camera["ego_pose_token"]]["translation"])
        lidar = np.asarray(poses[lidars[camera["sample_token"]]["ego_pose_token"]]["translation"])
        assert np.linalg.norm(own - lidar) > 0.3  # the sample's (lidar) ego pose is another one
    np.testing.assert_allclose(inputs.camera_to_world, written.dataset_from_synthetic @ written.camera_to_world,
                               atol=1e-6)
    # Point the cameras at the lidar's ego poses: the poses follow (so they are read from the camera's own token).
    edit(written.root, "sample_data", lambda records: [
        r.update(ego_pose_token=lidars[r["sample_token"]]["ego_pose_token"]) for r in records
        if r["is_key_frame"] and r["filename"].startswith(f"samples/{CHANNEL}/")])
    moved = read(written.root).camera_to_world
    assert np.linalg.norm(moved[:, :3, 3] - inputs.camera_to_world[:, :3, 3], axis=1).min() > 0.3


def test_lidar_depth_agrees_with_the_rendered_depth(written, inputs):
    assert inputs.depth_m.shape == (4, 180, 320) and inputs.depth_m.dtype == np.float32
    for depth, frame in zip(inputs.depth_m, rendered(written)):
        grid = np.zeros_like(frame.depth, dtype=bool)
        grid[::LIDAR_PIXEL_STEP, ::LIDAR_PIXEL_STEP] = True
        expected = grid & (frame.depth > 0)
        # exactly the sampled pixels: points behind the camera and off the image are dropped, the nearer point wins
        np.testing.assert_array_equal(depth > 0, expected)
        np.testing.assert_allclose(depth[expected], frame.depth[expected], rtol=0.01)
        assert expected.sum() > 1000


def test_lidar_points_go_through_the_lidar_ego_pose(tmp_path):
    written = write_nuscenes(tmp_path, num_samples=2)
    camera_poses = {c["sample_token"]: c["ego_pose_token"] for c in camera_keyframes(written.root)}
    edit(written.root, "sample_data", lambda records: [
        r.update(ego_pose_token=camera_poses[r["sample_token"]]) for r in records
        if r["filename"].startswith(f"samples/{LIDAR}/")])
    depth = read(written.root).depth_m
    truth = np.stack([f.depth for f in rendered(written)])
    agree = (depth > 0) & (np.abs(depth - truth) <= 0.01 * truth)
    assert agree.sum() < 0.5 * (depth > 0).sum()


def test_moving_instance_drops_its_whole_category(tmp_path):
    written = write_nuscenes(tmp_path)
    car = next(o for o in written.annotation.objects if o.category == "car")
    car_instance = next(i["token"] for i in table(written.root, "instance")
                        if i["first_annotation_token"] in {a["token"] for a in table(written.root, "sample_annotation")
                                                           if a["translation"] == pytest.approx(
                                                               in_dataset(written, np.array([car.box.center]))[0]
                                                               .tolist())})

    def move(by: float):
        def change(records):
            last = [r for r in records if r["instance_token"] == car_instance][-1]
            last["translation"][0] += by
        return change

    edit(written.root, "sample_annotation", move(0.3))  # within the threshold: a static car with label noise
    assert sum(b.category == "car" for b in read(written.root).boxes) == sum(
        o.category == "car" for o in written.annotation.objects)
    edit(written.root, "sample_annotation", move(1.7))  # now 2 m: a moving car
    boxes = read(written.root).boxes
    kept = [o for o in written.annotation.objects if o.category != "car"]
    assert [b.category for b in boxes] == [o.category for o in kept]
    assert [b.instance_id for b in boxes] == list(range(1, len(kept) + 1))
    np.testing.assert_allclose([b.center for b in boxes], in_dataset(written, np.array([o.box.center for o in kept])),
                               atol=1e-6)


def test_instance_ids_follow_first_appearance(tmp_path):
    written = write_nuscenes(tmp_path)
    first_sample = table(written.root, "sample")[0]["token"]
    instance = table(written.root, "instance")[0]["token"]  # generator object 1
    edit(written.root, "sample_annotation", lambda records: records.__setitem__(slice(None), [
        r for r in records if not (r["instance_token"] == instance and r["sample_token"] == first_sample)]))
    boxes = read(written.root).boxes
    assert boxes[-1].instance_id == len(written.annotation.objects)
    np.testing.assert_allclose(boxes[-1].center, in_dataset(written, np.array([written.annotation.objects[0].box
                                                                                .center]))[0], atol=1e-6)


def test_category_words():
    assert category_word("vehicle.car") == "car"
    assert category_word("human.pedestrian.adult") == "pedestrian"
    assert category_word("human.pedestrian.child") == "pedestrian"
    assert category_word("vehicle.bus.bendy") == category_word("vehicle.bus.rigid") == "bus"
    assert category_word("movable_object.trafficcone") == "traffic cone"
    assert category_word("static_object.bicycle_rack") == "bicycle rack"
    assert category_word("animal") == "animal"


def _quaternion_reference(q) -> np.ndarray:
    """w, x, y, z → matrix via Rodrigues' formula (independent of the adapter's expansion)."""
    w, x, y, z = q
    angle = 2 * math.atan2(math.sqrt(x * x + y * y + z * z), w)
    if angle == 0:
        return np.eye(3)
    axis = np.array([x, y, z]) / math.sqrt(x * x + y * y + z * z)
    cross = np.array([[0, -axis[2], axis[1]], [axis[2], 0, -axis[0]], [-axis[1], axis[0], 0]])
    return np.eye(3) + math.sin(angle) * cross + (1 - math.cos(angle)) * cross @ cross


# ---------------------------------------------------------------------------------------------------------------
# Bad input


def _raises(root: Path, *fragments: str, scene: str = "scene-0000") -> None:
    with pytest.raises(SourceError) as err:
        read(root, scene)
    for fragment in fragments:
        assert fragment in str(err.value), str(err.value)


def test_corrupt_table_names_the_file(tmp_path):
    written = write_nuscenes(tmp_path, num_samples=2)
    path = written.root / VERSION / "sample_annotation.json"
    path.write_text(path.read_text()[:200])
    _raises(written.root, str(path), "not valid JSON", "line")


def test_missing_ego_pose_names_the_token(tmp_path):
    written = write_nuscenes(tmp_path, num_samples=2)
    camera = camera_keyframes(written.root)[1]["token"]
    edit(written.root, "sample_data",
         lambda records: [r.update(ego_pose_token="f" * 32) for r in records if r["token"] == camera])
    _raises(written.root, "ego_pose.json", "f" * 32, camera, "ego_pose_token")


@pytest.mark.parametrize(("name", "rotation"), [("calibrated_sensor", [2.0, 0.0, 0.0, 0.0]),
                                                ("ego_pose", [0.0, 0.0, 0.0, 0.0]),
                                                ("sample_annotation", [0.7, 0.7, 0.7, 0.0]),
                                                ("sample_annotation", [1.0, 0.0, 0.0])])
def test_bad_quaternion_names_the_file_and_field(tmp_path, name, rotation):
    written = write_nuscenes(tmp_path, num_samples=2)
    edit(written.root, name, lambda records: [r.update(rotation=rotation) for r in records])
    _raises(written.root, f"{name}.json", "rotation")


def test_missing_image_names_the_file(tmp_path):
    written = write_nuscenes(tmp_path, num_samples=2)
    filename = camera_keyframes(written.root)[1]["filename"]
    (written.root / filename).unlink()
    _raises(written.root, filename, "missing", "filename")


def test_scene_without_samples_is_refused(tmp_path):
    written = write_nuscenes(tmp_path, num_samples=2)
    edit(written.root, "scene", lambda records: [r.update(first_sample_token="") for r in records])
    _raises(written.root, "scene.json", "first_sample_token", "no samples")


def test_singular_intrinsics_are_refused(tmp_path):
    written = write_nuscenes(tmp_path, num_samples=2)

    def singular(records):
        for record in records:
            if record["camera_intrinsic"]:
                record["camera_intrinsic"][0][0] = 0.0
    edit(written.root, "calibrated_sensor", singular)
    _raises(written.root, "calibrated_sensor.json", "camera_intrinsic", "singular")


def test_truncated_point_cloud_is_refused(tmp_path):
    written = write_nuscenes(tmp_path, num_samples=2)
    path = written.root / next(iter(lidar_keyframes(written.root).values()))["filename"]
    path.write_bytes(path.read_bytes()[:-7])
    _raises(written.root, str(path.relative_to(written.root)), "20-byte")


def test_discover_lists_every_scene_and_a_broken_one_fails_on_read(tmp_path):
    write_nuscenes(tmp_path, seed=0, num_samples=2)
    write_nuscenes(tmp_path, seed=1, num_samples=2)
    edit(tmp_path, "scene", lambda records: [r.update(first_sample_token="") for r in records
                                             if r["name"] == "scene-0001"])
    items = list(source().discover(tmp_path))
    assert [(i.uri, i.scene_id, i.tier, i.path) for i in items] == [
        (f"{VERSION}/scene.json#scene-0000", "nuscenes_scene-0000", ScaleTier.OUTDOOR, tmp_path / VERSION),
        (f"{VERSION}/scene.json#scene-0001", "nuscenes_scene-0001", ScaleTier.OUTDOOR, tmp_path / VERSION)]
    assert read(tmp_path, "scene-0000").n_frames == 2
    _raises(tmp_path, "scene.json", "scene-0001", scene="scene-0001")


def test_corrupt_scene_table_fails_discovery(tmp_path):
    written = write_nuscenes(tmp_path, num_samples=2)
    (written.root / VERSION / "scene.json").write_text("{not json")
    with pytest.raises(SourceError, match="scene.json: not valid JSON"):
        list(source().discover(written.root))


# ---------------------------------------------------------------------------------------------------------------
# Detection


def test_detect(written, tmp_path):
    assert source().detect(written.root)
    assert not source().detect(tmp_path)
    (tmp_path / "videos").mkdir()
    (tmp_path / "videos" / "a.mp4").write_bytes(b"\x00" * 16)
    assert not source().detect(tmp_path)
    (tmp_path / "scene_a").mkdir()
    (tmp_path / "scene_a" / "scene.json").write_text("{}")  # the annotated layout
    assert not source().detect(tmp_path)
    (tmp_path / "v1.0-mini").mkdir()  # a version folder without tables
    assert not source().detect(tmp_path)
