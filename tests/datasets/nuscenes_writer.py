"""nuScenes fixture: a synthetic outdoor scene written as one nuScenes scene (shared/FORMATS.md §4).

Written by the dataset's own conventions (docs/schema_nuscenes.md, the devkit's `get_sample_data`,
`map_pointcloud_to_image`, `Box`, `LidarPointCloud.from_file`), never through the adapter:
- the generator's metric z-up world becomes the global frame through DATASET_FROM_SYNTHETIC (a yaw and a map-sized
  offset), which stays z-up and metric;
- the ego frame is x forward, y left, z up; CAM_FRONT is fixed on the ego (camera z = ego x, camera x = −ego y,
  camera y = −ego z, at CAMERA_TRANSLATION); the ego pose of a camera frame is c2w · inv(T_ego←cam);
- camera_intrinsic is written in nuScenes' convention (pixel centre at the integer index): cx_render − 0.5;
- `num_samples` keyframe samples at ~2 Hz, with one camera sweep (is_key_frame false, pointing at the following
  sample as nuScenes' sweeps do) between each pair; the LIDAR_TOP keyframe of each sample has its own
  calibrated_sensor (LIDAR_TRANSLATION, a −90° yaw and a slight roll) and its own ego_pose (the ego
  LIDAR_EGO_OFFSET earlier along its way, 12.4 ms before the camera), and a .pcd.bin sampled from the rendered
  depth every LIDAR_PIXEL_STEP pixels (pixel centres back-projected, in the lidar frame), plus points the adapter
  must ignore or out-vote: a farther point on some of those rays, points behind the camera, points off the image;
- every object gets a sample_annotation at every keyframe: centre in the global frame, size [width, length,
  height], rotation the w, x, y, z quaternion of its yaw; generator categories map to nuScenes names
  (car → vehicle.car, truck → vehicle.truck, bus → vehicle.bus.rigid, others → static_object.<category>, which the
  real taxonomy lacks: nuScenes does not annotate buildings or trees);
- tokens are 32-hex strings; calling the writer again with another seed adds a scene to the same version folder.

The returned FixtureScene's frames are the keyframes (the item's frames): camera_to_world and masks of the
`num_samples` keyframes, in the generator's world.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import cv2
import numpy as np

from schemas.tiers import ScaleTier
from sources.synthetic import RenderSettings, SceneRenderer, build_scene
from tests.datasets import FixtureScene

CHANNEL = "CAM_FRONT"
LIDAR = "LIDAR_TOP"
LOG_NAME = "n015-2018-07-18-11-07-57+0800"
CAMERA_TRANSLATION = (1.7, 0.0, 1.5)
EGO_FROM_CAMERA_AXES = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])
"""Columns: camera x, y, z in the ego frame (x right = −ego y, y down = −ego z, z forward = ego x)."""
LIDAR_TRANSLATION = (0.94, 0.0, 1.84)
LIDAR_YAW_DEG, LIDAR_ROLL_DEG = -90.0, 0.6
LIDAR_EGO_OFFSET = ((-0.35, 0.04, 0.0), -0.7)
"""Translation (m) and yaw (deg) of the ego at the lidar time, in the ego at the camera time."""
LIDAR_PIXEL_STEP = 3
LIDAR_LEAD_US = 12_400  # the camera fires this long after the lidar's sample timestamp
KEYFRAME_INTERVAL_US = 500_000
JITTER_US = (0, 1_700, -2_300, 900, -600, 2_100)
FIRST_TIMESTAMP_US = 1_531_883_530_449_377
DATASET_YAW_DEG = 35.0
DATASET_OFFSET = (411.3, 1180.9, 0.0)
CATEGORY_NAMES = {"car": "vehicle.car", "truck": "vehicle.truck", "bus": "vehicle.bus.rigid"}
TABLES = ("category", "attribute", "visibility", "instance", "sensor", "calibrated_sensor", "ego_pose", "log",
          "scene", "sample", "sample_data", "sample_annotation", "map")


def token(*parts: object) -> str:
    """A stable 32-hex token."""
    return hashlib.md5("/".join(str(p) for p in parts).encode()).hexdigest()


def rotation_z(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def rotation_x(deg: float) -> np.ndarray:
    c, s = math.cos(math.radians(deg)), math.sin(math.radians(deg))
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def quaternion_wxyz(rotation: np.ndarray) -> list[float]:
    """Unit quaternion w, x, y, z of a rotation matrix (Shepperd's method, w ≥ 0)."""
    m = np.asarray(rotation, dtype=float)
    trace = np.trace(m)
    if trace > 0:
        s = 2.0 * math.sqrt(1.0 + trace)
        q = [0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s]
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        q = [(m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s]
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        q = [(m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s]
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        q = [(m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s]
    q = np.asarray(q)
    q = q / np.linalg.norm(q)
    return (q if q[0] >= 0 else -q).tolist()


def rigid(rotation: np.ndarray, translation) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3] = rotation
    matrix[:3, 3] = translation
    return matrix


def dataset_from_synthetic() -> np.ndarray:
    return rigid(rotation_z(DATASET_YAW_DEG), DATASET_OFFSET)


def ego_from_camera() -> np.ndarray:
    return rigid(EGO_FROM_CAMERA_AXES, CAMERA_TRANSLATION)


def ego_from_lidar() -> np.ndarray:
    return rigid(rotation_z(LIDAR_YAW_DEG) @ rotation_x(LIDAR_ROLL_DEG), LIDAR_TRANSLATION)


def pose_record(tok: str, transform: np.ndarray, timestamp: int | None = None) -> dict:
    record = {"token": tok, "translation": transform[:3, 3].tolist(), "rotation": quaternion_wxyz(transform[:3, :3])}
    if timestamp is not None:
        record["timestamp"] = timestamp
    return record


def write_nuscenes(root: Path, seed: int = 0, *, width: int = 320, height: int = 180, num_samples: int = 4,
                   version: str = "v1.0-mini") -> FixtureScene:
    """Render build_scene(OUTDOOR, seed) into `root` as scene `scene-<seed:04d>` of `version`."""
    if num_samples < 1:
        raise ValueError("num_samples must be ≥ 1")
    root = Path(root)
    scene = build_scene(ScaleTier.OUTDOOR, seed)
    k = RenderSettings(width=width, height=height).intrinsics()
    renderer = SceneRenderer(scene, k)
    n_camera = 2 * num_samples - 1  # keyframes at even indices, one sweep between each pair
    poses = scene.camera_path.poses(n_camera)
    world = dataset_from_synthetic()
    cam_in_ego, lidar_in_ego = ego_from_camera(), ego_from_lidar()
    offset, offset_yaw = LIDAR_EGO_OFFSET
    lidar_ego_in_camera_ego = rigid(rotation_z(offset_yaw), offset)
    rng = np.random.default_rng(seed)

    tables: dict[str, list[dict]] = {name: [] for name in TABLES}
    sensor_tokens = {CHANNEL: token("sensor", CHANNEL), LIDAR: token("sensor", LIDAR)}
    tables["sensor"] = [{"token": sensor_tokens[CHANNEL], "channel": CHANNEL, "modality": "camera"},
                        {"token": sensor_tokens[LIDAR], "channel": LIDAR, "modality": "lidar"}]
    camera_cs = {**pose_record(token(seed, "cs", CHANNEL), cam_in_ego), "sensor_token": sensor_tokens[CHANNEL],
                 "camera_intrinsic": [[k.fx, 0.0, k.cx - 0.5], [0.0, k.fy, k.cy - 0.5], [0.0, 0.0, 1.0]]}
    lidar_cs = {**pose_record(token(seed, "cs", LIDAR), lidar_in_ego), "sensor_token": sensor_tokens[LIDAR],
                "camera_intrinsic": []}
    tables["calibrated_sensor"] = [camera_cs, lidar_cs]
    tables["visibility"] = [{"token": str(i), "level": level, "description": f"visibility of whole object is {level}"}
                            for i, level in enumerate(("v0-40", "v40-60", "v60-80", "v80-100"), start=1)]
    tables["attribute"] = [{"token": token("attribute", "vehicle.parked"), "name": "vehicle.parked",
                            "description": "Vehicle is stationary."}]
    log = token(seed, "log")
    tables["log"] = [{"token": log, "logfile": LOG_NAME, "vehicle": LOG_NAME.split("-")[0],
                      "date_captured": "2018-07-18", "location": "singapore-onenorth"}]
    tables["map"] = [{"token": token(seed, "map"), "log_tokens": [log], "category": "semantic_prior",
                      "filename": f"maps/{token(seed, 'map')}.png"}]

    first_us = FIRST_TIMESTAMP_US + seed * 100_000_000
    lidar_us = [first_us + i * KEYFRAME_INTERVAL_US + JITTER_US[i % len(JITTER_US)] for i in range(num_samples)]
    camera_us = [t + LIDAR_LEAD_US for t in lidar_us]
    samples = [token(seed, "sample", i) for i in range(num_samples)]
    scene_token = token(seed, "scene")
    for i, sample in enumerate(samples):
        tables["sample"].append({"token": sample, "timestamp": lidar_us[i], "scene_token": scene_token,
                                 "prev": samples[i - 1] if i else "", "next": samples[i + 1] if i + 1 < num_samples
                                 else ""})

    # Camera: keyframes and sweeps, one chain in time order.
    camera_records: list[dict] = []
    keyframe_masks, keyframe_poses = [], []
    for f, pose in enumerate(poses):
        keyframe = f % 2 == 0
        i = f // 2
        stamp = camera_us[i] if keyframe else (camera_us[i] + camera_us[i + 1]) // 2
        frame = renderer.render(pose)
        folder = "samples" if keyframe else "sweeps"
        filename = f"{folder}/{CHANNEL}/{LOG_NAME}__{CHANNEL}__{stamp}.jpg"
        (root / filename).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(root / filename), cv2.cvtColor(frame.rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
        ego = token(seed, "ego", CHANNEL, f)
        tables["ego_pose"].append(pose_record(ego, world @ pose @ np.linalg.inv(cam_in_ego), stamp))
        camera_records.append({
            "token": token(seed, "sd", CHANNEL, f), "sample_token": samples[i if keyframe else i + 1],
            "ego_pose_token": ego, "calibrated_sensor_token": camera_cs["token"], "timestamp": stamp,
            "fileformat": "jpg", "is_key_frame": keyframe, "height": height, "width": width, "filename": filename})
        if keyframe:
            keyframe_masks.append(frame.mask)
            keyframe_poses.append(pose)
            tables["sample_data"].extend(
                _lidar_keyframe(root, seed, i, samples[i], lidar_us[i], world @ pose, frame.depth, k, tables,
                                lidar_cs["token"], world @ pose @ np.linalg.inv(cam_in_ego) @ lidar_ego_in_camera_ego,
                                lidar_in_ego, rng))
    _chain(camera_records)
    tables["sample_data"].extend(camera_records)
    _chain([r for r in tables["sample_data"] if r["calibrated_sensor_token"] == lidar_cs["token"]])

    # Annotations: every object at every keyframe.
    for obj in scene.annotation.objects:
        name = CATEGORY_NAMES.get(obj.category, f"static_object.{obj.category}")
        category = token("category", name)
        if all(c["token"] != category for c in tables["category"]):
            tables["category"].append({"token": category, "name": name, "description": f"fixture {name}",
                                       "index": len(tables["category"])})
        instance = token(seed, "instance", obj.instance_id)
        annotations = [token(seed, "ann", obj.instance_id, i) for i in range(num_samples)]
        length, width_m, height_m = obj.box.size
        centre = world[:3, :3] @ np.asarray(obj.box.center) + world[:3, 3]
        rotation = quaternion_wxyz(rotation_z(obj.box.yaw_deg + DATASET_YAW_DEG))
        for i, ann in enumerate(annotations):
            tables["sample_annotation"].append({
                "token": ann, "sample_token": samples[i], "instance_token": instance, "visibility_token": "4",
                "attribute_tokens": [], "translation": centre.tolist(), "size": [width_m, length, height_m],
                "rotation": rotation, "prev": annotations[i - 1] if i else "",
                "next": annotations[i + 1] if i + 1 < num_samples else "", "num_lidar_pts": 1, "num_radar_pts": 0})
        tables["instance"].append({"token": instance, "category_token": category, "nbr_annotations": num_samples,
                                   "first_annotation_token": annotations[0], "last_annotation_token": annotations[-1]})
    scene_name = f"scene-{seed:04d}"
    tables["scene"] = [{"token": scene_token, "log_token": log, "nbr_samples": num_samples,
                        "first_sample_token": samples[0], "last_sample_token": samples[-1], "name": scene_name,
                        "description": f"synthetic outdoor street, seed {seed}"}]
    _write_tables(root / version, tables)
    return FixtureScene(root=root, scene_id=f"nuscenes_{scene_name}", tier=ScaleTier.OUTDOOR,
                        annotation=scene.annotation, camera_to_world=np.stack(keyframe_poses), intrinsics=k,
                        masks=np.stack(keyframe_masks), dataset_from_synthetic=world)


def _lidar_keyframe(root: Path, seed: int, i: int, sample: str, stamp: int, camera_to_world: np.ndarray,
                    depth: np.ndarray, k, tables: dict[str, list[dict]], calibrated: str, ego_to_world: np.ndarray,
                    lidar_in_ego: np.ndarray, rng: np.random.Generator) -> list[dict]:
    """The LIDAR_TOP keyframe of sample i: its ego_pose and a .pcd.bin of rendered-depth points (lidar frame)."""
    rows, cols = np.mgrid[0:depth.shape[0]:LIDAR_PIXEL_STEP, 0:depth.shape[1]:LIDAR_PIXEL_STEP]
    rows, cols = rows.ravel(), cols.ravel()
    z = depth[rows, cols].astype(float)
    hit = z > 0
    rows, cols, z = rows[hit], cols[hit], z[hit]
    camera = np.stack([(cols + 0.5 - k.cx) / k.fx * z, (rows + 0.5 - k.cy) / k.fy * z, z], axis=1)
    farther = camera[::5] * 1.5  # the same rays, behind the surface: the nearer point must win
    behind = camera[::7] * -2.0  # behind the camera: would land on the same pixels if z < 0 were not refused
    off_image = camera[::11] + np.array([1.0, 0.0, 0.0]) * camera[::11, 2:3] * (k.width / k.fx)  # right of the image
    camera = np.concatenate([camera, farther, behind, off_image])
    world = camera @ camera_to_world[:3, :3].T + camera_to_world[:3, 3]
    lidar_to_world = ego_to_world @ lidar_in_ego
    world_to_lidar = np.linalg.inv(lidar_to_world)
    lidar = world @ world_to_lidar[:3, :3].T + world_to_lidar[:3, 3]
    points = np.concatenate([lidar, rng.uniform(0, 100, (len(lidar), 1)),
                             rng.integers(0, 32, (len(lidar), 1)).astype(float)], axis=1)
    filename = f"samples/{LIDAR}/{LOG_NAME}__{LIDAR}__{stamp}.pcd.bin"
    (root / filename).parent.mkdir(parents=True, exist_ok=True)
    points.astype("<f4").tofile(root / filename)
    ego = token(seed, "ego", LIDAR, i)
    tables["ego_pose"].append(pose_record(ego, ego_to_world, stamp))
    return [{"token": token(seed, "sd", LIDAR, i), "sample_token": sample, "ego_pose_token": ego,
             "calibrated_sensor_token": calibrated, "timestamp": stamp, "fileformat": "pcd", "is_key_frame": True,
             "height": 0, "width": 0, "filename": filename}]


def _chain(records: list[dict]) -> None:
    """prev/next of one sensor's sample_data, in time order."""
    records.sort(key=lambda r: r["timestamp"])
    for i, record in enumerate(records):
        record["prev"] = records[i - 1]["token"] if i else ""
        record["next"] = records[i + 1]["token"] if i + 1 < len(records) else ""


def _write_tables(version_dir: Path, tables: dict[str, list[dict]]) -> None:
    """Write each table, keeping the records of scenes written before (deduplicated by token)."""
    version_dir.mkdir(parents=True, exist_ok=True)
    for name in TABLES:
        path = version_dir / f"{name}.json"
        records = json.loads(path.read_text()) if path.exists() else []
        known = {r["token"] for r in records}
        records += [r for r in tables[name] if r["token"] not in known]
        path.write_text(json.dumps(records, indent=1))
