"""nuScenes (shared/FORMATS.md §4): driving scenes with metric poses, 3D boxes in the global frame and LiDAR.

Layout under the data root: `v1.0-<split>/<table>.json` (plain JSON lists of records keyed by `token`; read here
without the devkit), `samples/<CHANNEL>/*.jpg` (keyframe images), `samples/LIDAR_TOP/*.pcd.bin` (keyframe sweeps)
and `sweeps/…` (intermediate frames). One item = one scene of one version folder, seen by one camera channel
(`NuScenesSource.channel`, CAM_FRONT): uri `<version>/scene.json#<scene name>` (only a stable key; the item's path
is the version folder), scene id `nuscenes_<scene name>`, tier outdoor.

Conventions, from the devkit (nutonomy/nuscenes-devkit `python-sdk/nuscenes/nuscenes.py` `get_sample_data` and
`map_pointcloud_to_image`, `utils/data_classes.py` `Box` and `LidarPointCloud.from_file`, `utils/geometry_utils.py`
`view_points`, `docs/schema_nuscenes.md`):
- Frames: the camera's keyframe sample_data (`is_key_frame`) of the scene's samples, followed from
  `scene.first_sample_token` along `sample.next`, in time order. Sweeps (the ~12 Hz frames between keyframes, whose
  sample_data point at the following sample) are not used: boxes are annotated on keyframes only, and a sweep's
  boxes would be the devkit's linear interpolation, not an annotation. timestamps_s are seconds (from µs) after
  the scene's first keyframe; fps = 1 / median keyframe interval (≈ 2 Hz; 2 Hz for a one-sample scene).
- Quaternions (`rotation` of calibrated_sensor, ego_pose and sample_annotation) are w, x, y, z; one whose norm is
  off 1 by more than QUATERNION_TOLERANCE (or zero) is refused.
- Camera pose: c2w = T_global←ego · T_ego←cam, T_global←ego from the ego_pose of that image's own sample_data,
  T_ego←cam from its calibrated_sensor. The camera is OpenCV (x right, y down, z forward); the global frame is
  metric and z-up, so up = (0, 0, 1) is native.
- K: `camera_intrinsic` (images are already undistorted). The devkit projects with `view_points` (u = fx·x/z + cx)
  and draws the result over the image with pixel i's centre at integer i, so nuScenes' K puts pixel centres at the
  integer index; this project's convention (centre of pixel (i, j) at (i + 0.5, j + 0.5)) takes cx + 0.5, cy + 0.5.
- Boxes (`sample_annotation`): `translation` is the centre in the global frame (m); `size` is [width, length,
  height] along the box axes x forward (length), y left (width), z up, so the canonical size is
  (size[1], size[0], size[2]); `rotation` is box → global. One box per instance: its annotation at the first
  keyframe it is annotated in. Instance ids run 1…N in order of first appearance (ties: sample_annotation.json
  order) over the kept instances.
- Moving objects: an instance two of whose annotated centres lie more than MOVING_THRESHOLD_M apart is dropped
  together with every instance of its category word: the scene's questions assume a static scene, and dropping
  only the moving car would miscount the cars.
- Categories: `instance.category_token` → `category.name`, mapped to a plain word by CATEGORY_WORDS (e.g.
  human.pedestrian.adult → "pedestrian", vehicle.bus.rigid → "bus"); a name not listed there keeps its last
  dot-separated component with underscores as spaces (vehicle.car → "car").
- Depth: sparse, from the LIDAR_TOP keyframe sample_data of the same sample, float32 N×5 (x, y, z, intensity,
  ring) in the lidar frame: lidar → ego (its calibrated_sensor) → global (its own ego_pose, at the lidar time) →
  ego at the camera time → camera. A point with z > 0 whose projection (this project's K) falls in the image gives
  depth z at that pixel; the nearest point wins. depth_dense = False (fit for occlusion tests, not for lifting).

The tables of a version folder are parsed once per process and kept while their files are unchanged (trainval's
sample_data.json is large): see `_tables`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from schemas.annotations import Intrinsics
from schemas.paths import inside_root
from schemas.tiers import ScaleTier
from sources.contract import (
    KeyframePolicy,
    Modality,
    NativeBox,
    SceneInputs,
    Source,
    SourceError,
    checked_intrinsics,
    checked_rotation,
    register_source,
)
from sources.discovery import VideoItem
from sources.images import read_rgb

DATASET = "nuscenes"
VERSION_GLOB = "v1.0-*"
SCENE_TABLE = "scene.json"
SAMPLE_DATA_TABLE = "sample_data.json"
LIDAR_CHANNEL = "LIDAR_TOP"
LIDAR_FIELDS = 5  # x, y, z, intensity, ring: float32 each
US_PER_S = 1e6
KEYFRAME_RATE_HZ = 2.0
"""nuScenes' keyframe rate: the fps of a scene with a single sample."""
QUATERNION_TOLERANCE = 1e-3
MOVING_THRESHOLD_M = 0.5
PIXEL_CENTRE_OFFSET = 0.5  # nuScenes K: pixel centre at the integer index → this project's i + 0.5
_INTRINSICS_TOLERANCE = 1e-9

CATEGORY_WORDS = {
    "human.pedestrian.adult": "pedestrian",
    "human.pedestrian.child": "pedestrian",
    "human.pedestrian.construction_worker": "pedestrian",
    "human.pedestrian.police_officer": "pedestrian",
    "human.pedestrian.personal_mobility": "personal mobility vehicle",
    "human.pedestrian.stroller": "stroller",
    "human.pedestrian.wheelchair": "wheelchair",
    "vehicle.bus.bendy": "bus",
    "vehicle.bus.rigid": "bus",
    "vehicle.construction": "construction vehicle",
    "vehicle.emergency.ambulance": "ambulance",
    "vehicle.emergency.police": "police car",
    "movable_object.trafficcone": "traffic cone",
    "movable_object.pushable_pullable": "cart",
    "static_object.bicycle_rack": "bicycle rack",
}
"""nuScenes category names whose last component is not the plain word a question should use."""


def category_word(name: str) -> str:
    """The plain category word of a nuScenes category name (see CATEGORY_WORDS)."""
    return CATEGORY_WORDS.get(name, name.rsplit(".", 1)[-1].replace("_", " "))


def quaternion_matrix(q: Any, where: str) -> np.ndarray:
    """3×3 rotation of a unit quaternion given as w, x, y, z (nuScenes' order); SourceError naming `where` when it
    is not four finite numbers of norm 1 (± QUATERNION_TOLERANCE)."""
    try:
        q = np.asarray(q, dtype=float)
    except (TypeError, ValueError):
        raise SourceError(f"{where}: not a quaternion ({q!r})") from None
    if q.shape != (4,) or not np.isfinite(q).all():
        raise SourceError(f"{where}: not 4 finite numbers w, x, y, z ({q.tolist()})")
    norm = float(np.linalg.norm(q))
    if abs(norm - 1.0) > QUATERNION_TOLERANCE:
        raise SourceError(f"{where}: not a unit quaternion (|q| = {norm:.6g})")
    w, x, y, z = q / norm
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


# ---------------------------------------------------------------------------------------------------------------
# Tables


@dataclass
class _Table:
    path: Path
    records: list[dict]
    by_token: dict[str, dict]

    def get(self, token: Any, referrer: str) -> dict:
        """The record of `token`, or SourceError naming this file, the token and the referring field."""
        record = self.by_token.get(token) if isinstance(token, str) else None
        if record is None:
            raise SourceError(f"{self.path}: no record with token {token!r} (referenced by {referrer})")
        return record


@dataclass
class _Tables:
    """The tables of one version folder, each parsed on first use, with the indexes this adapter needs."""

    version_dir: Path
    root: Path
    loaded: dict[str, tuple[tuple, _Table]] = field(default_factory=dict)
    indexes: dict[str, tuple[tuple, Any]] = field(default_factory=dict)

    def table(self, name: str) -> _Table:
        path = inside_root(self.root, self.version_dir / f"{name}.json")
        if not path.is_file():
            raise SourceError(f"{path}: missing")
        stat = path.stat()
        key = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        cached = self.loaded.get(name)
        if cached is None or cached[0] != key:
            self.loaded[name] = (key, _parse_table(path))
        return self.loaded[name][1]

    def index(self, name: str, tables: tuple[str, ...], build) -> Any:
        """A derived index over `tables`, rebuilt when any of them changed."""
        parsed = [self.table(t) for t in tables]
        key = tuple(self.loaded[t][0] for t in tables)
        cached = self.indexes.get(name)
        if cached is None or cached[0] != key:
            self.indexes[name] = (key, build(*parsed))
        return self.indexes[name][1]


def _parse_table(path: Path) -> _Table:
    try:
        records = json.loads(path.read_bytes())
    except json.JSONDecodeError as err:
        raise SourceError(f"{path}: not valid JSON (line {err.lineno}, column {err.colno}: {err.msg})") from None
    except UnicodeDecodeError as err:
        raise SourceError(f"{path}: not UTF-8 text ({err})") from None
    if not isinstance(records, list):
        raise SourceError(f"{path}: expected a JSON list of records, found {type(records).__name__}")
    by_token: dict[str, dict] = {}
    for n, record in enumerate(records):
        if not isinstance(record, dict) or not isinstance(record.get("token"), str):
            raise SourceError(f"{path}: record {n}: not an object with a string token")
        if record["token"] in by_token:
            raise SourceError(f"{path}: record {n}: token {record['token']!r} appears twice")
        by_token[record["token"]] = record
    return _Table(path, records, by_token)


_TABLES: dict[Path, _Tables] = {}


def _tables(root: Path, version_dir: Path) -> _Tables:
    """The (process-wide, change-checked) tables of a version folder."""
    resolved = inside_root(root, version_dir)
    if resolved not in _TABLES:
        if len(_TABLES) >= 2:  # a data root holds one or two versions (e.g. mini and trainval); keep the newest
            _TABLES.pop(next(iter(_TABLES)))
        _TABLES[resolved] = _Tables(resolved, root)
    tables = _TABLES[resolved]
    tables.root = root
    return tables


def _field(record: dict, key: str, table: _Table, kind: type | tuple[type, ...] | None = None) -> Any:
    """`record[key]`, or SourceError naming the file, the record's token and the field."""
    if key not in record:
        raise SourceError(f"{table.path}: {record.get('token')!r}: no field {key!r}")
    value = record[key]
    if kind is not None and (not isinstance(value, kind) or isinstance(value, bool) and bool not in _kinds(kind)):
        raise SourceError(f"{table.path}: {record.get('token')!r}: {key} is {value!r}, expected "
                          f"{' or '.join(k.__name__ for k in _kinds(kind))}")
    return value


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def _vector(record: dict, key: str, table: _Table, length: int) -> np.ndarray:
    value = _field(record, key, table)
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        array = np.empty(0)
    if array.shape != (length,) or not np.isfinite(array).all():
        raise SourceError(f"{table.path}: {record.get('token')!r}: {key} is {value!r}, expected {length} finite "
                          f"numbers")
    return array


def _transform(record: dict, table: _Table) -> np.ndarray:
    """4×4 of a calibrated_sensor or ego_pose record: [quat(rotation) | translation] (child → parent frame)."""
    matrix = np.eye(4)
    where = f"{table.path}: {record.get('token')!r}: rotation"
    matrix[:3, :3] = quaternion_matrix(_field(record, "rotation", table), where)
    matrix[:3, 3] = _vector(record, "translation", table, 3)
    return matrix


def _keyframes_by_sample(sample_data: _Table) -> dict[str, list[dict]]:
    by_sample: dict[str, list[dict]] = defaultdict(list)
    for record in sample_data.records:
        if _field(record, "is_key_frame", sample_data, bool):
            by_sample[_field(record, "sample_token", sample_data, str)].append(record)
    return dict(by_sample)


def _annotations_by_sample(annotations: _Table) -> dict[str, list[dict]]:
    by_sample: dict[str, list[dict]] = defaultdict(list)
    for record in annotations.records:
        by_sample[_field(record, "sample_token", annotations, str)].append(record)
    return dict(by_sample)


def _channels(calibrated: _Table, sensors: _Table) -> dict[str, tuple[str, str]]:
    """calibrated_sensor token → (channel, modality)."""
    out = {}
    for record in calibrated.records:
        sensor = sensors.get(_field(record, "sensor_token", calibrated), f"{calibrated.path}: {record['token']!r}: "
                                                                            f"sensor_token")
        out[record["token"]] = (_field(sensor, "channel", sensors, str), str(sensor.get("modality", "")))
    return out


# ---------------------------------------------------------------------------------------------------------------
# The source


@dataclass(frozen=True)
class _Frame:
    """One camera keyframe of the scene (and the lidar keyframe of its sample, if any)."""

    sample: dict
    camera: dict
    lidar: dict | None


@register_source
class NuScenesSource(Source):
    name = DATASET
    native = frozenset({Modality.INTRINSICS, Modality.POSES, Modality.DEPTH, Modality.BOXES, Modality.CATEGORIES,
                        Modality.GRAVITY, Modality.METRIC})
    description = ("nuScenes: driving scenes, one camera's 2 Hz keyframes with metric ego × sensor poses, K, "
                   "3D boxes in the z-up global frame and sparse LiDAR depth")
    default_tier = ScaleTier.OUTDOOR
    channel: ClassVar[str] = "CAM_FRONT"
    """The camera channel whose keyframes make an item."""

    def detect(self, root: Path) -> bool:
        return any((d / SCENE_TABLE).is_file() and (d / SAMPLE_DATA_TABLE).is_file()
                   for d in sorted(root.glob(VERSION_GLOB)) if d.is_dir())

    def discover(self, root: Path) -> Iterator[VideoItem]:
        """Every scene of every version folder (by version, then scene name). A scene that cannot be read is still
        listed (its read raises); an unreadable scene.json raises here."""
        for version_dir in sorted(d for d in root.glob(VERSION_GLOB) if d.is_dir()):
            if not (version_dir / SCENE_TABLE).is_file():
                continue
            scenes = _tables(root, version_dir).table("scene")
            names: dict[str, str] = {}
            for record in scenes.records:
                name = _field(record, "name", scenes, str)
                if not name or "#" in name:
                    raise SourceError(f"{scenes.path}: {record['token']!r}: name {name!r} is empty or holds '#'")
                if name in names:
                    raise SourceError(f"{scenes.path}: scene name {name!r} is used by {names[name]!r} and "
                                      f"{record['token']!r}")
                names[name] = record["token"]
            for name in sorted(names):
                yield VideoItem(uri=f"{version_dir.name}/{SCENE_TABLE}#{name}", path=version_dir, source=DATASET,
                                scene_id=f"{DATASET}_{name}", tier=self.default_tier)

    def read(self, root: Path, item: VideoItem, policy: KeyframePolicy) -> SceneInputs:
        version_dir = inside_root(root, item.path)
        data_root = version_dir.parent
        tables = _tables(root, version_dir)
        scene = self._scene(tables, item.path.name, item.uri)
        frames = self._frames(tables, scene)
        n_frames = len(frames)
        stamps = [self._timestamp(tables, f.camera) for f in frames]
        keyframes = policy.select(n_frames)
        chosen = [frames[i] for i in keyframes]

        sample_data = tables.table("sample_data")
        content = [self._image_path(root, data_root, f.camera, sample_data) for f in frames]
        for path, frame in zip(content, frames):
            if not path.is_file():
                raise SourceError(f"{path} (sample_data {frame.camera['token']!r}: filename): missing")
        images = [read_rgb(content[i], (_field(frames[i].camera, "width", sample_data, int),
                                        _field(frames[i].camera, "height", sample_data, int)),
                           "sample_data width × height say",
                           f"{content[i]} (sample_data {frames[i].camera['token']!r}: filename)") for i in keyframes]
        sizes = {image.shape for image in images}
        if len(sizes) > 1:
            raise SourceError(f"{sample_data.path}: the {self.channel} keyframes of scene {scene.get('name')!r} "
                              f"differ in size ({sorted(sizes)})")
        rgb = np.stack(images)
        height, width = rgb.shape[1:3]
        intrinsics = self._intrinsics(tables, chosen, width, height)
        camera_to_world = np.stack([self._camera_to_world(tables, f.camera) for f in chosen])

        provenance = {
            Modality.INTRINSICS: f"native:{DATASET}/calibrated_sensor.json",
            Modality.POSES: f"native:{DATASET}/ego_pose.json",
            Modality.GRAVITY: f"native:{DATASET}/ego_pose.json",
            Modality.METRIC: f"native:{DATASET}/ego_pose.json",
            Modality.BOXES: f"native:{DATASET}/sample_annotation.json",
            Modality.CATEGORIES: f"native:{DATASET}/category.json",
        }
        depth = self._depth(root, data_root, tables, chosen, camera_to_world, intrinsics)
        if depth is not None:
            provenance[Modality.DEPTH] = f"native:{DATASET}/{LIDAR_CHANNEL}"
        boxes = self._boxes(tables, [f.sample for f in frames])
        fps = KEYFRAME_RATE_HZ
        if n_frames > 1:
            interval = float(np.median(np.diff(stamps)))
            if interval <= 0:
                raise SourceError(f"{sample_data.path}: the {self.channel} keyframes of scene {scene.get('name')!r} "
                                  f"share timestamps (median interval {interval} µs)")
            fps = US_PER_S / interval
        return SceneInputs(
            scene_id=item.scene_id, source=DATASET, frame_indices=keyframes,
            timestamps_s=[(stamps[i] - stamps[0]) / US_PER_S for i in keyframes], rgb=rgb, fps=fps,
            n_frames=n_frames, content=content, tier=item.tier or self.default_tier, intrinsics=intrinsics,
            camera_to_world=camera_to_world, depth_m=depth, depth_dense=False,
            categories={b.instance_id: b.category for b in boxes}, boxes=boxes, up=np.array([0.0, 0.0, 1.0]),
            metric=True, provenance=provenance)

    # -- scene and frames ----------------------------------------------------------------------------------------

    @staticmethod
    def _scene(tables: _Tables, version: str, uri: str) -> dict:
        scenes = tables.table("scene")
        prefix = f"{version}/{SCENE_TABLE}#"
        if not uri.startswith(prefix):
            raise SourceError(f"{scenes.path}: item uri {uri!r} does not name a scene of this file")
        name = uri[len(prefix):]
        matches = [r for r in scenes.records if r.get("name") == name]
        if len(matches) != 1:
            raise SourceError(f"{scenes.path}: {len(matches)} scenes named {name!r}")
        return matches[0]

    def _frames(self, tables: _Tables, scene: dict) -> list[_Frame]:
        scenes, samples, sample_data = tables.table("scene"), tables.table("sample"), tables.table("sample_data")
        keyframes = tables.index("keyframes", ("sample_data",), _keyframes_by_sample)
        channels = tables.index("channels", ("calibrated_sensor", "sensor"), _channels)
        token = _field(scene, "first_sample_token", scenes, str)
        if not token:
            raise SourceError(f"{scenes.path}: scene {scene.get('name')!r}: first_sample_token is empty (a scene "
                              f"with no samples)")
        referrer = f"{scenes.path}: scene {scene.get('name')!r}: first_sample_token"
        frames: list[_Frame] = []
        seen: set[str] = set()
        while token:
            if token in seen:
                raise SourceError(f"{samples.path}: {token!r}: the next chain of scene {scene.get('name')!r} loops")
            seen.add(token)
            sample = samples.get(token, referrer)
            if _field(sample, "scene_token", samples) != scene["token"]:
                raise SourceError(f"{samples.path}: {token!r}: scene_token {sample['scene_token']!r} is not scene "
                                  f"{scene.get('name')!r} ({scene['token']!r}) whose chain reaches it")
            by_channel: dict[str, list[dict]] = defaultdict(list)
            for record in keyframes.get(token, []):
                calibrated = _field(record, "calibrated_sensor_token", sample_data)
                if calibrated not in channels:
                    tables.table("calibrated_sensor").get(
                        calibrated, f"{sample_data.path}: {record['token']!r}: calibrated_sensor_token")
                by_channel[channels[calibrated][0]].append(record)
            cameras, lidars = by_channel.get(self.channel, []), by_channel.get(LIDAR_CHANNEL, [])
            if len(cameras) != 1:
                raise SourceError(f"{sample_data.path}: sample {token!r} has {len(cameras)} {self.channel} keyframe "
                                  f"sample_data (is_key_frame true), expected 1")
            if len(lidars) > 1:
                raise SourceError(f"{sample_data.path}: sample {token!r} has {len(lidars)} {LIDAR_CHANNEL} keyframe "
                                  f"sample_data, expected at most 1")
            frames.append(_Frame(sample, cameras[0], lidars[0] if lidars else None))
            referrer = f"{samples.path}: {token!r}: next"
            token = _field(sample, "next", samples, str)
        frames.sort(key=lambda f: self._timestamp(tables, f.camera))
        return frames

    @staticmethod
    def _timestamp(tables: _Tables, record: dict) -> int:
        return _field(record, "timestamp", tables.table("sample_data"), int)

    # -- images and camera ---------------------------------------------------------------------------------------

    @staticmethod
    def _image_path(root: Path, data_root: Path, record: dict, sample_data: _Table) -> Path:
        filename = _field(record, "filename", sample_data, str)
        return inside_root(root, data_root / filename)

    @staticmethod
    def _intrinsics(tables: _Tables, frames: list[_Frame], width: int, height: int) -> Intrinsics:
        calibrated, sample_data = tables.table("calibrated_sensor"), tables.table("sample_data")
        first: tuple[np.ndarray, str] | None = None
        for frame in frames:
            record = calibrated.get(frame.camera["calibrated_sensor_token"],
                                    f"{sample_data.path}: {frame.camera['token']!r}: calibrated_sensor_token")
            where = f"{calibrated.path}: {record['token']!r}: camera_intrinsic"
            try:
                k = np.asarray(_field(record, "camera_intrinsic", calibrated), dtype=float)
            except (TypeError, ValueError):
                k = np.empty(0)
            if k.shape != (3, 3) or not np.isfinite(k).all():
                raise SourceError(f"{where}: not a finite 3×3 matrix ({record.get('camera_intrinsic')!r})")
            if abs(k[0, 1]) > _INTRINSICS_TOLERANCE or abs(k[1, 0]) > _INTRINSICS_TOLERANCE or \
                    not np.allclose(k[2], [0, 0, 1], atol=_INTRINSICS_TOLERANCE):
                raise SourceError(f"{where}: not a pinhole K [[fx, 0, cx], [0, fy, cy], [0, 0, 1]] ({k.tolist()})")
            if first is None:
                first = (k, where)
            elif not np.allclose(k, first[0], rtol=0, atol=_INTRINSICS_TOLERANCE):
                raise SourceError(f"{where}: differs from {first[1]} within one scene ({k.tolist()} vs "
                                  f"{first[0].tolist()})")
        k, where = first
        return checked_intrinsics(k[0, 0], k[1, 1], k[0, 2] + PIXEL_CENTRE_OFFSET, k[1, 2] + PIXEL_CENTRE_OFFSET,
                                  width, height, where)

    @staticmethod
    def _sensor_to_world(tables: _Tables, record: dict) -> np.ndarray:
        """T_global←sensor of a sample_data: its own ego_pose · its calibrated_sensor."""
        sample_data = tables.table("sample_data")
        calibrated, poses = tables.table("calibrated_sensor"), tables.table("ego_pose")
        sensor = calibrated.get(_field(record, "calibrated_sensor_token", sample_data),
                                f"{sample_data.path}: {record['token']!r}: calibrated_sensor_token")
        pose = poses.get(_field(record, "ego_pose_token", sample_data),
                         f"{sample_data.path}: {record['token']!r}: ego_pose_token")
        return _transform(pose, poses) @ _transform(sensor, calibrated)

    def _camera_to_world(self, tables: _Tables, record: dict) -> np.ndarray:
        pose = self._sensor_to_world(tables, record)
        checked_rotation(pose[:3, :3], f"{tables.table('sample_data').path}: {record['token']!r}: camera pose")
        return pose

    # -- LiDAR depth ---------------------------------------------------------------------------------------------

    def _depth(self, root: Path, data_root: Path, tables: _Tables, frames: list[_Frame],
               camera_to_world: np.ndarray, k: Intrinsics) -> np.ndarray | None:
        """Sparse depth of each keyframe from its sample's LIDAR_TOP sweep; None when the scene has no LiDAR."""
        missing = [f.sample["token"] for f in frames if f.lidar is None]
        if len(missing) == len(frames):
            return None
        if missing:
            raise SourceError(f"{tables.table('sample_data').path}: sample {missing[0]!r} has no {LIDAR_CHANNEL} "
                              f"keyframe sample_data while other samples of the scene do")
        depth = np.zeros((len(frames), k.height, k.width), np.float32)
        sample_data = tables.table("sample_data")
        for n, frame in enumerate(frames):
            points = _lidar_points(self._image_path(root, data_root, frame.lidar, sample_data), frame.lidar)
            lidar_to_world = self._sensor_to_world(tables, frame.lidar)
            world_to_camera = np.linalg.inv(camera_to_world[n])
            lidar_to_camera = world_to_camera @ lidar_to_world
            depth[n] = _splat(points @ lidar_to_camera[:3, :3].T + lidar_to_camera[:3, 3], k)
        return depth

    # -- boxes ---------------------------------------------------------------------------------------------------

    def _boxes(self, tables: _Tables, samples: list[dict]) -> list[NativeBox]:
        annotations = tables.table("sample_annotation")
        by_sample = tables.index("annotations", ("sample_annotation",), _annotations_by_sample)
        instances, categories = tables.table("instance"), tables.table("category")
        first: dict[str, dict] = {}
        centres: dict[str, list[np.ndarray]] = defaultdict(list)
        for sample in samples:
            for record in by_sample.get(sample["token"], []):
                instance = _field(record, "instance_token", annotations, str)
                centres[instance].append(_vector(record, "translation", annotations, 3))
                first.setdefault(instance, record)
        words: dict[str, str] = {}
        moving: set[str] = set()
        for instance, record in first.items():
            inst = instances.get(instance, f"{annotations.path}: {record['token']!r}: instance_token")
            category = categories.get(_field(inst, "category_token", instances),
                                      f"{instances.path}: {instance!r}: category_token")
            words[instance] = category_word(_field(category, "name", categories, str))
            points = np.stack(centres[instance])
            spread = np.linalg.norm(points[:, None] - points[None], axis=-1).max()
            if spread > MOVING_THRESHOLD_M:
                moving.add(words[instance])
        boxes = []
        for instance, record in first.items():  # insertion order = order of first appearance
            if words[instance] in moving:
                continue
            width, length, height = _vector(record, "size", annotations, 3)
            if min(width, length, height) <= 0:
                raise SourceError(f"{annotations.path}: {record['token']!r}: size {record['size']!r} is not positive")
            rotation = quaternion_matrix(_field(record, "rotation", annotations),
                                         f"{annotations.path}: {record['token']!r}: rotation")
            boxes.append(NativeBox(instance_id=len(boxes) + 1, category=words[instance],
                                   center=_vector(record, "translation", annotations, 3),
                                   size=np.array([length, width, height]), rotation=rotation))
        return boxes


def _lidar_points(path: Path, record: dict) -> np.ndarray:
    """x, y, z [N, 3] of a .pcd.bin (float32 × 5 per point, as LidarPointCloud.from_file), finite points only."""
    where = f"{path} (sample_data {record['token']!r}: filename)"
    if not path.is_file():
        raise SourceError(f"{where}: missing")
    size = path.stat().st_size
    point_bytes = LIDAR_FIELDS * np.dtype(np.float32).itemsize
    if size % point_bytes:
        raise SourceError(f"{where}: {size} bytes is not a whole number of {point_bytes}-byte points "
                          f"(float32 x, y, z, intensity, ring): truncated?")
    points = np.fromfile(path, dtype=np.float32).reshape(-1, LIDAR_FIELDS)[:, :3].astype(float)
    return points[np.isfinite(points).all(axis=1)]


def _splat(points_camera: np.ndarray, k: Intrinsics) -> np.ndarray:
    """Depth image of camera-frame points: z at the pixel each projects into (pixel i spans [i, i + 1) in this
    project's convention), the nearest point winning; 0 where none."""
    z = points_camera[:, 2]
    ahead = z > 0
    points, z = points_camera[ahead], z[ahead]
    u = np.floor(k.fx * points[:, 0] / z + k.cx)
    v = np.floor(k.fy * points[:, 1] / z + k.cy)
    inside = (u >= 0) & (u < k.width) & (v >= 0) & (v < k.height)
    flat = v[inside].astype(np.int64) * k.width + u[inside].astype(np.int64)
    depth = np.full(k.width * k.height, np.inf)
    np.minimum.at(depth, flat, z[inside])
    depth[~np.isfinite(depth)] = 0.0
    return depth.reshape(k.height, k.width).astype(np.float32)
