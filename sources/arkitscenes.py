"""Adapter for ARKitScenes 3DOD (shared/FORMATS.md §2): iPad LiDAR RGB-D videos with laser-registered 3D boxes.

Layout (`<split>` is `Training` or `Validation`; the data root may be the download's `threedod/` folder, a split
folder or one video folder)::

    <split>/<vid>/<vid>_3dod_annotation.json                         boxes (data[i].segments.obbAligned)
    <split>/<vid>/<vid>_frames/lowres_wide.traj                      ts, axis-angle (3, rad), translation (3, m)
    <split>/<vid>/<vid>_frames/lowres_wide/<vid>_<ts>.png            RGB, 256×192, sensor orientation
    <split>/<vid>/<vid>_frames/lowres_depth/<vid>_<ts>.png           uint16 mm, same grid
    <split>/<vid>/<vid>_frames/lowres_wide_intrinsics/<vid>_<ts>.pincam   `w h fx fy cx cy`
    metadata.csv (in the split folder or any folder above it)        video_id, visit_id, fold, sky_direction, …

One item = one video folder; scene id `arkitscenes_<vid>`; tier indoor. Conventions, as in apple/ARKitScenes
`threedod/benchmark_scripts/utils/tenFpsDataLoader.py` and `box_utils.py`:

- Poses: each traj line is world-to-camera, R = Rodrigues(axis-angle), t = translation, so camera-to-world is its
  inverse (camera centre −Rᵀt). Camera axes are OpenCV (x right, y down, z forward); the world is z-up, metres.
- Timestamps: a frame's pose is the traj line whose time, rounded to 3 decimals, equals the frame's; otherwise the
  nearest line less than 0.005 s away. A `.pincam` may be named 0.001 s before or after its frame.
- Pixel centres: the official loader back-projects the integer pixel index with the pincam's K, so pixel (i, j)
  has its centre at (i, j); the project puts it at (i + 0.5, j + 0.5), hence cx + 0.5, cy + 0.5 here.
- Orientation: frames are stored as the sensor saw them; metadata.csv's `sky_direction` says where the sky is in
  them. Every frame and depth map is turned upright as the official `depth_upsampling/dataset.py` does (Left:
  90° clockwise, Right: 90° counter-clockwise, Down: 180°), and K and the camera axes turn with them: for one
  clockwise quarter turn of a W×H image, u' = H − v and v' = u in continuous pixel coordinates, so
  K' = (fy, fx, H − cy, cx) and the camera's x' = −y, y' = x (c2w' = c2w · rotation about the camera z axis).
  A video missing from every metadata.csv (or with none) takes the orientation most of its traj poses have under
  the official `rectify_im.py` rule `decide_pose`.
- Intrinsics: SceneInputs holds one K, the per-parameter median of the keyframes' pincams; a keyframe more than
  5 % off that median is refused (a mixed-up video, not ARKit's small focus changes).
- Depth: png / 1000 m, 0 = no return; it must have the RGB frame's size.
- Boxes: R_box_to_world = reshape(normalizedAxes, 3, 3)ᵀ (the reshape's rows are the box axes) and size =
  axesLengths along those axes; an orthonormal but left-handed triple (the same box) gets its third axis negated.
  Category = label with spaces, '-' and '/' replaced by '_'; instance ids number the entries from 1 in file order.
  A video without its annotation JSON is read without boxes (specialists fill them). No instance masks.
"""

from __future__ import annotations

import csv
import json
import math
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from schemas.annotations import Intrinsics
from schemas.paths import inside_root
from schemas.tiers import ScaleTier
from sources.contract import (KeyframePolicy, Modality, NativeBox, SceneInputs, Source, SourceError, checked_intrinsics,
                              checked_rotation, register_source)
from sources.discovery import VideoItem, tier_hint
from sources.images import read_depth_mm, read_rgb

SOURCE = "arkitscenes"
TRAJ_FILE = "lowres_wide.traj"
RGB_DIR = "lowres_wide"
DEPTH_DIR = "lowres_depth"
PINCAM_DIR = "lowres_wide_intrinsics"
METADATA_FILE = "metadata.csv"
ANNOTATION_SUFFIX = "_3dod_annotation.json"
FRAMES_SUFFIX = "_frames"
POSE_TOLERANCE_S = 0.005
PINCAM_OFFSETS_S = (0.0, -0.001, 0.001)  # the official loader's order
INTRINSICS_SPREAD = 0.05
DEFAULT_FPS = 10.0  # the 3DOD lowres streams are 10 fps
SEARCH_DEPTH = 3  # root / threedod / <split> / <vid>

CLOCKWISE_TURNS = {"up": 0, "left": 1, "down": 2, "right": 3}
"""Clockwise quarter turns that bring a frame upright, by sky_direction (official depth_upsampling/dataset.py)."""
_CV2_TURN = {1: cv2.ROTATE_90_CLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_COUNTERCLOCKWISE}
_DECIDE_POSE_Z = np.array([[0.0, -1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
"""rectify_im.py decide_pose: world z of the camera axes for upright, left, upside-down and right."""
_QUARTER_TURN_AXES = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
"""Columns: the camera axes after one clockwise image quarter turn, in the old camera's axes (x' = −y, y' = x)."""


@dataclass(frozen=True)
class _Frame:
    stamp: str  # the timestamp as written in the file name
    time_s: float
    rgb: Path


@register_source
class ARKitScenesSource(Source):
    """Intrinsics, poses, depth, boxes, categories and gravity from the dataset; instance masks from specialists."""

    name = SOURCE
    native = frozenset({Modality.INTRINSICS, Modality.POSES, Modality.DEPTH, Modality.BOXES, Modality.CATEGORIES,
                        Modality.GRAVITY, Modality.METRIC})
    description = ("ARKitScenes 3DOD (<split>/<vid>/<vid>_frames lowres_wide, lowres_depth, traj, pincam; "
                   "<vid>_3dod_annotation.json): metric RGB-D, poses, z-up gravity and 3D boxes")
    default_tier = ScaleTier.INDOOR

    def detect(self, root: Path) -> bool:
        return next(_video_dirs(root), None) is not None

    def discover(self, root: Path) -> Iterator[VideoItem]:
        for video_dir in _video_dirs(root):
            relative = video_dir.relative_to(root).as_posix()
            yield VideoItem(uri=relative, path=video_dir, source=SOURCE, scene_id=f"{SOURCE}_{video_dir.name}",
                            annotations_dir=video_dir, tier=tier_hint(relative) or self.default_tier)

    def read(self, root: Path, item: VideoItem, policy: KeyframePolicy) -> SceneInputs:
        video_dir = inside_root(root, item.path)
        vid = item.path.name
        frames_dir = inside_root(root, video_dir / f"{vid}{FRAMES_SUFFIX}")
        if not frames_dir.is_dir():
            raise SourceError(f"{frames_dir}: missing (the video's frames folder)")
        frames = _frames(root, frames_dir, vid)
        keyframes = policy.select(len(frames))
        if not keyframes:
            raise SourceError(f"{frames_dir / RGB_DIR}: no frames selected")
        traj_path = inside_root(root, frames_dir / TRAJ_FILE)
        traj = _read_traj(traj_path)
        turns = _clockwise_turns(root, item.path, vid, traj)

        rgbs, depths, pincams, poses = [], [], [], []
        for index in keyframes:
            frame = frames[index]
            rgb = read_rgb(inside_root(root, frame.rgb))
            depth = read_depth_mm(inside_root(root, frames_dir / DEPTH_DIR / frame.rgb.name),
                                  (rgb.shape[1], rgb.shape[0]), f"the {RGB_DIR} frame is")
            pincams.append(_read_pincam(root, frames_dir / PINCAM_DIR, vid, frame.stamp, rgb.shape[:2]))
            poses.append(_pose_at(traj, traj_path, frame))
            rgbs.append(_turn_image(rgb, turns))
            depths.append(_turn_image(depth, turns))
        intrinsics = _turn_intrinsics(_median_intrinsics(pincams), turns)
        camera_to_world = np.stack(poses)
        if turns:
            camera_to_world = camera_to_world @ _camera_turn(turns)

        boxes, categories = _read_boxes(root, video_dir / f"{vid}{ANNOTATION_SUFFIX}")
        start = frames[0].time_s
        native = f"native:{SOURCE}"
        provenance = {Modality.INTRINSICS: f"{native}/{PINCAM_DIR}", Modality.POSES: f"{native}/{TRAJ_FILE}",
                      Modality.DEPTH: f"{native}/{DEPTH_DIR}", Modality.GRAVITY: f"{native}/{TRAJ_FILE}",
                      Modality.METRIC: f"{native}/{TRAJ_FILE}"}
        if boxes is not None:
            provenance[Modality.BOXES] = provenance[Modality.CATEGORIES] = f"{native}/{ANNOTATION_SUFFIX[1:]}"
        return SceneInputs(
            scene_id=item.scene_id, source=SOURCE, frame_indices=keyframes,
            timestamps_s=[frames[i].time_s - start for i in keyframes], rgb=np.stack(rgbs), fps=_fps(frames),
            n_frames=len(frames), content=[frame.rgb for frame in frames], tier=item.tier or self.default_tier,
            intrinsics=intrinsics, camera_to_world=camera_to_world, depth_m=np.stack(depths),
            categories=categories, boxes=boxes, up=np.array([0.0, 0.0, 1.0]), metric=True, provenance=provenance)


# --- discovery -------------------------------------------------------------------------------------------------

def is_video_dir(path: Path) -> bool:
    """A folder `<vid>` holding `<vid>_frames/` or `<vid>_3dod_annotation.json`."""
    return (path / f"{path.name}{FRAMES_SUFFIX}").is_dir() or (path / f"{path.name}{ANNOTATION_SUFFIX}").is_file()


def _video_dirs(root: Path, depth: int = 0) -> Iterator[Path]:
    """Video folders at most SEARCH_DEPTH levels below `root`, in name order; a video folder is not entered."""
    if is_video_dir(root):
        yield root
        return
    if depth >= SEARCH_DEPTH:
        return
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    except OSError:
        return
    for child in children:
        yield from _video_dirs(child, depth + 1)


# --- frames, trajectory, intrinsics, depth -------------------------------------------------------------------------

def _frames(root: Path, frames_dir: Path, vid: str) -> list[_Frame]:
    """The video's lowres_wide frames in time order; a PNG not named `<vid>_<ts>.png` is refused."""
    rgb_dir = inside_root(root, frames_dir / RGB_DIR)
    if not rgb_dir.is_dir():
        raise SourceError(f"{rgb_dir}: missing (the video's {RGB_DIR} frames)")
    frames = []
    for path in rgb_dir.glob("*.png"):
        stamp = path.stem[len(vid) + 1:] if path.stem.startswith(f"{vid}_") else ""
        try:
            time_s = float(stamp)
        except ValueError:
            raise SourceError(f"{path}: file name is not {vid}_<timestamp>.png") from None
        if not math.isfinite(time_s):
            raise SourceError(f"{path}: timestamp {stamp!r} is not finite")
        frames.append(_Frame(stamp=stamp, time_s=time_s, rgb=path))
    if not frames:
        raise SourceError(f"{rgb_dir}: no {vid}_<timestamp>.png frames")
    return sorted(frames, key=lambda f: (f.time_s, f.stamp))


def _fps(frames: list[_Frame]) -> float:
    """Frames per second from the median frame interval (DEFAULT_FPS for a single frame)."""
    if len(frames) < 2:
        return DEFAULT_FPS
    step = float(np.median(np.diff([f.time_s for f in frames])))
    return 1.0 / step if step > 0 else DEFAULT_FPS


@dataclass(frozen=True)
class _Traj:
    keys: dict[str, int]  # f"{round(ts, 3):.3f}" → row
    times: np.ndarray  # [N]
    camera_to_world: np.ndarray  # [N, 4, 4]


def _read_traj(path: Path) -> _Traj:
    """Every line `ts ax ay az tx ty tz` (world-to-camera) as camera-to-world."""
    if not path.is_file():
        raise SourceError(f"{path}: missing (the video's camera trajectory)")
    times, poses = [], []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        if len(tokens) != 7:
            raise SourceError(f"{path}: line {number}: {len(tokens)} fields, expected 7 (ts, axis-angle, translation)")
        try:
            values = np.array([float(token) for token in tokens])
        except ValueError:
            raise SourceError(f"{path}: line {number}: not a number in {line.strip()!r}") from None
        if not np.isfinite(values).all():
            raise SourceError(f"{path}: line {number}: non-finite value in {line.strip()!r}")
        world_to_camera = np.eye(4)
        world_to_camera[:3, :3] = cv2.Rodrigues(values[1:4].reshape(3, 1))[0]
        world_to_camera[:3, 3] = values[4:7]
        camera_to_world = np.eye(4)
        camera_to_world[:3, :3] = world_to_camera[:3, :3].T
        camera_to_world[:3, 3] = -world_to_camera[:3, :3].T @ values[4:7]
        times.append(values[0])
        poses.append(camera_to_world)
    if not poses:
        raise SourceError(f"{path}: no poses")
    keys = {f"{round(t, 3):.3f}": row for row, t in enumerate(times)}
    return _Traj(keys=keys, times=np.array(times), camera_to_world=np.stack(poses))


def _pose_at(traj: _Traj, path: Path, frame: _Frame) -> np.ndarray:
    """The frame's pose: the line whose rounded time is the frame's, else the nearest within POSE_TOLERANCE_S."""
    row = traj.keys.get(f"{round(frame.time_s, 3):.3f}")
    if row is None:
        gaps = np.abs(traj.times - frame.time_s)
        nearest = int(np.argmin(gaps))
        if gaps[nearest] >= POSE_TOLERANCE_S:
            raise SourceError(f"{path}: no pose within {POSE_TOLERANCE_S} s of timestamp {frame.stamp} "
                              f"(frame {frame.rgb.name}; nearest line is {gaps[nearest]:.4f} s away)")
        row = nearest
    return traj.camera_to_world[row]


def _read_pincam(root: Path, pincam_dir: Path, vid: str, stamp: str,
                 shape: tuple[int, int]) -> tuple[Intrinsics, Path]:
    """The frame's pincam (named at its timestamp or 0.001 s off), in the project's pixel-centre convention."""
    time_s = float(stamp)
    candidates = [pincam_dir / f"{vid}_{stamp}.pincam"]
    candidates += [pincam_dir / f"{vid}_{time_s + offset:.3f}.pincam" for offset in PINCAM_OFFSETS_S[1:]]
    path = next((inside_root(root, p) for p in candidates if p.is_file()), None)
    if path is None:
        raise SourceError(f"{candidates[0]}: missing (no pincam for timestamp {stamp}, nor 0.001 s either side)")
    tokens = path.read_text().split()
    try:
        values = [float(token) for token in tokens]
    except ValueError:
        raise SourceError(f"{path}: not numbers: {' '.join(tokens)!r}") from None
    if len(values) != 6:
        raise SourceError(f"{path}: {len(values)} values, expected 6 (w h fx fy cx cy)")
    width, height, fx, fy, cx, cy = values
    if (int(round(width)), int(round(height))) != (shape[1], shape[0]):
        raise SourceError(f"{path}: w h = {width:g} {height:g}, but the {RGB_DIR} frame is {shape[1]}×{shape[0]}")
    return checked_intrinsics(fx, fy, cx + 0.5, cy + 0.5, shape[1], shape[0], str(path)), path


def _median_intrinsics(pincams: list[tuple[Intrinsics, Path]]) -> Intrinsics:
    """One K for the keyframes: the per-parameter median; a keyframe far from it is refused."""
    names = ("fx", "fy", "cx", "cy")
    first = pincams[0][0]
    median = {name: float(np.median([getattr(k, name) for k, _ in pincams])) for name in names}
    scale = {"fx": median["fx"], "fy": median["fy"], "cx": first.width, "cy": first.height}
    for k, path in pincams:
        if (k.width, k.height) != (first.width, first.height):
            raise SourceError(f"{path}: a {k.width}×{k.height} frame in a video of {first.width}×{first.height} "
                              "frames")
        for name in names:
            if abs(getattr(k, name) - median[name]) > INTRINSICS_SPREAD * scale[name]:
                raise SourceError(f"{path}: {name} = {getattr(k, name):g}, the keyframes' median is "
                                  f"{median[name]:g}: more than {INTRINSICS_SPREAD:.0%} apart")
    return Intrinsics(width=first.width, height=first.height, **median)


# --- orientation -----------------------------------------------------------------------------------------------

def _clockwise_turns(root: Path, video_dir: Path, vid: str, traj: _Traj) -> int:
    """Quarter turns from metadata.csv's sky_direction (nearest metadata.csv listing the video), else from poses."""
    for folder in video_dir.parents:
        if not folder.is_relative_to(root):
            break
        candidate = folder / METADATA_FILE
        if candidate.is_file():
            turns = _sky_turns(inside_root(root, candidate), vid)
            if turns is not None:
                return turns
    # decide_pose reads row 2 of the official (camera-to-world) pose: the world z of each camera axis
    votes = Counter(int(np.argmax(_DECIDE_POSE_Z @ pose[2, :3])) for pose in traj.camera_to_world)
    return votes.most_common(1)[0][0]


def _sky_turns(path: Path, vid: str) -> int | None:
    """The video's row in one metadata.csv, as clockwise quarter turns; None when the video is not listed."""
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            fields = reader.fieldnames or []
            for column in ("video_id", "sky_direction"):
                if column not in fields:
                    raise SourceError(f"{path}: no {column} column (columns: {', '.join(fields)})")
            for row in reader:
                if str(row["video_id"]).strip() != vid:
                    continue
                value = str(row["sky_direction"] or "").strip()
                if value.lower() not in CLOCKWISE_TURNS:
                    raise SourceError(f"{path}: line {reader.line_num}: sky_direction {value!r} for video {vid} is "
                                      "not one of Up, Down, Left, Right")
                return CLOCKWISE_TURNS[value.lower()]
    except (csv.Error, UnicodeDecodeError) as err:
        raise SourceError(f"{path}: not a readable CSV ({err})") from None
    return None


def _turn_image(image: np.ndarray, turns: int) -> np.ndarray:
    return cv2.rotate(image, _CV2_TURN[turns]) if turns else image


def _turn_intrinsics(k: Intrinsics, turns: int) -> Intrinsics:
    """K after `turns` clockwise quarter turns of the image (pixel centres at + 0.5, so u' = H − v, v' = u)."""
    for _ in range(turns):
        k = Intrinsics(fx=k.fy, fy=k.fx, cx=k.height - k.cy, cy=k.cx, width=k.height, height=k.width)
    return k


def _camera_turn(turns: int) -> np.ndarray:
    """4×4 right factor of camera-to-world for `turns` clockwise quarter turns of the image."""
    turn = np.eye(4)
    turn[:3, :3] = np.linalg.matrix_power(_QUARTER_TURN_AXES, turns)
    return turn


# --- boxes -----------------------------------------------------------------------------------------------------

def category_of(label: str) -> str:
    """The official label normalisation (tenFpsDataLoader.extract_gt): spaces, '-' and '/' become '_'."""
    for delimiter in (" ", "-", "/"):
        label = label.replace(delimiter, "_")
    return label


def _read_boxes(root: Path, path: Path) -> tuple[list[NativeBox] | None, dict[int, str]]:
    path = inside_root(root, path)
    if not path.is_file():
        return None, {}
    try:
        document = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SourceError(f"{path}: not valid JSON ({err})") from None
    entries = document.get("data") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise SourceError(f"{path}: data: missing or not a list")
    boxes, categories = [], {}
    for index, entry in enumerate(entries):
        uid = entry.get("uid", "?") if isinstance(entry, dict) else "?"
        where = f"{path}: data[{index}] (uid {uid})"
        try:
            label = entry["label"]
            obb = entry["segments"]["obbAligned"]
            centroid = np.asarray(obb["centroid"], dtype=float)
            lengths = np.asarray(obb["axesLengths"], dtype=float)
            axes = np.asarray(obb["normalizedAxes"], dtype=float)
        except (KeyError, TypeError) as err:
            raise SourceError(f"{where}: missing field {err}") from None
        except ValueError as err:
            raise SourceError(f"{where}: segments.obbAligned: not numbers ({err})") from None
        if not isinstance(label, str) or not label.strip():
            raise SourceError(f"{where}: label: {label!r} is not a name")
        if centroid.shape != (3,) or not np.isfinite(centroid).all():
            raise SourceError(f"{where}: segments.obbAligned.centroid: {centroid.tolist()} is not 3 finite numbers")
        if lengths.shape != (3,) or not np.isfinite(lengths).all() or (lengths <= 0).any():
            raise SourceError(f"{where}: segments.obbAligned.axesLengths: {lengths.tolist()} is not 3 positive "
                              "lengths")
        if axes.size != 9:
            raise SourceError(f"{where}: segments.obbAligned.normalizedAxes: {axes.size} values, expected 9")
        rotation = axes.reshape(3, 3).T
        if np.isfinite(rotation).all() and np.linalg.det(rotation) < 0:
            rotation = rotation * np.array([1.0, 1.0, -1.0])  # a left-handed axis triple: the same box
        rotation = checked_rotation(rotation, f"{where}: segments.obbAligned.normalizedAxes")
        instance_id = index + 1
        if instance_id > 65535:
            raise SourceError(f"{where}: more than 65535 boxes")
        category = category_of(label.strip())
        boxes.append(NativeBox(instance_id=instance_id, category=category, center=centroid, size=lengths,
                               rotation=rotation))
        categories[instance_id] = category
    return boxes, categories
