"""Adapter for DL3DV-10K: unzipped scene folders of nerfstudio `transforms.json` + downscaled frames.

Layout (shared/FORMATS.md §3): `<batch>/<64-hex scene hash>/transforms.json` beside `images_8/` (480P download),
`images_4/` (960P), `images_2/` or full-resolution `images/`, each holding `frame_00001.png…`. One scene folder (any
folder holding a transforms.json) is one item; its scene id is `dl3dv_` + the first 12 hex digits of its hash
folder (a folder named by a 64-hex hash: the scene folder itself, or the nearest one above it, as in the Sample and
Benchmark layouts `<hash>/colmap/` and `<hash>/nerfstudio/`, where the sub-folder's name is appended).

Conventions, all applied here:
- Frames: the first folder of `DL3DVSource.downscales` that exists (images_8, then images_4, images_2, images) is read;
  `file_path` says `images/frame_xxxxx.png` and only its basename is used. Frames are ordered by file name (the JSON
  lists them in COLMAP's order), and every listed frame's image must exist.
- Intrinsics: `w`, `h`, `fl_x`, `fl_y`, `cx`, `cy` describe the FULL resolution (3840×2160 for the 4K captures); the
  first two rows of K are divided by the folder's downscale f and the frames must be (w // f) × (h // f). K keeps
  nerfstudio's (and COLMAP's) pixel-centre convention, which is the project's: pixel (i, j) has its centre at
  (i + 0.5, j + 0.5); no shift is applied. Per-frame intrinsics (a nerfstudio option DL3DV does not use) are refused.
- Distortion: `camera_model` "OPENCV" with k1, k2, p1, p2 (and k3 when present). Frames with non-zero coefficients are
  undistorted with cv2.undistort onto the same pinhole K (given to OpenCV as cx − 0.5, cy − 0.5, its integer-centre
  convention); frames with zero distortion are returned byte for byte. "PINHOLE" needs no coefficients.
- Poses: `transform_matrix` is camera-to-world with OpenGL camera axes (x right, y up, z back):
  c2w_cv = transform_matrix · diag(1, −1, −1, 1). The world is COLMAP's (possibly re-oriented by nerfstudio; the
  optional `applied_transform` records that and is not undone): arbitrary orientation, arbitrary scale, so
  metric = False and gravity is estimated from the cameras (sources.gravity.estimate_up over every frame's pose).
- No depth, masks, boxes or categories: the pipeline's specialists fill them.
- Time: DL3DV frames carry no timestamps. nerfstudio's ns-process-data samples about 300 frames evenly from each
  60 fps video, and the videos last about 60–120 s (DL3DV-valid.csv `duration`; 51.2 M video frames over 10,510
  videos ≈ 81 s), so consecutive frames lie about 0.25 s apart: frame i is stamped i / NOMINAL_FPS with
  NOMINAL_FPS = 4.0 (nominal, good to a factor of about 1.5 per scene).
- Tier: the nearest enclosing folder named after a tier (`indoor/`, `outdoor/`, `drone/`…, see
  sources.discovery.tier_hint), else OUTDOOR. DL3DV-Drone scenes go under a `drone/` folder to be curated as drone.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np

from schemas.annotations import Intrinsics
from schemas.paths import inside_root
from schemas.tiers import ScaleTier
from sources.contract import (KeyframePolicy, Modality, SceneInputs, Source, SourceError, checked_intrinsics,
                              checked_rotation, register_source)
from sources.discovery import VideoItem, tier_hint
from sources.images import read_rgb
from sources.gravity import ESTIMATED_FROM_CAMERAS, estimate_up

SOURCE = "dl3dv"
TRANSFORMS_FILE = "transforms.json"
NOMINAL_FPS = 4.0
OPENGL_TO_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])
DISTORTION_KEYS = ("k1", "k2", "p1", "p2", "k3")  # OpenCV's order
CAMERA_KEYS = ("w", "h", "fl_x", "fl_y", "cx", "cy", *DISTORTION_KEYS, "k4", "camera_model")
CAMERA_MODELS = ("OPENCV", "PINHOLE")
DETECT_DEPTH = 4  # `<tier>/<batch>/<hash>/<sub>/transforms.json` at the deepest
_HASH = re.compile(r"^[0-9a-fA-F]{64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_DIGITS = re.compile(r"(\d+)")


def image_folder(scene_dir: Path, downscales: tuple[int, ...]) -> tuple[int, Path] | None:
    """The first existing frame folder of `scene_dir` in `downscales` order, with its factor."""
    for factor in downscales:
        folder = scene_dir / ("images" if factor == 1 else f"images_{factor}")
        if folder.is_dir():
            return factor, folder
    return None


def scene_id_for(root: Path, scene_dir: Path) -> str:
    """`dl3dv_<first 12 hex of the scene hash>`, the hash being the scene folder's name or its nearest 64-hex
    ancestor's (then `__<sub-folder path>` follows); with no hash folder, the data-root-relative path."""
    parts = scene_dir.relative_to(root).parts or (scene_dir.name,)
    hashed = [i for i, part in enumerate(parts) if _HASH.match(part)]
    if hashed:
        parts = (parts[hashed[-1]][:12].lower(), *parts[hashed[-1] + 1:])
    return "dl3dv_" + "__".join(_UNSAFE.sub("_", part) for part in parts)


def _natural_key(name: str) -> list:
    return [int(token) if token.isdigit() else token for token in _DIGITS.split(name)]


@register_source
class DL3DVSource(Source):
    name = SOURCE
    native = frozenset({Modality.INTRINSICS, Modality.POSES})
    description = ("DL3DV-10K scene folders (nerfstudio transforms.json + images_8/images_4): frames with COLMAP "
                   "intrinsics and poses in SfM units; no depth, boxes or gravity")
    downscales: ClassVar[tuple[int, ...]] = (8, 4, 2, 1)
    """Frame folders in order of preference, by downscale factor (1 = full-resolution `images/`)."""
    default_tier = ScaleTier.OUTDOOR
    nominal_fps: ClassVar[float] = NOMINAL_FPS

    def detect(self, root: Path) -> bool:
        for depth in range(DETECT_DEPTH + 1):
            for transforms in root.glob("/".join(["*"] * depth + [TRANSFORMS_FILE])):
                if image_folder(transforms.parent, self.downscales) is not None:
                    return True
        return False

    def discover(self, root: Path) -> Iterator[VideoItem]:
        """Every folder under `root` holding a transforms.json (not searched below it), in path order; a folder
        whose frames are missing or broken is still an item (read() says what is wrong)."""
        seen: set[Path] = set()
        for dirpath, dirnames, filenames in os.walk(root, followlinks=True):
            here = Path(dirpath)
            real = here.resolve()
            if real in seen:  # a symlink loop, or a folder reached twice
                dirnames.clear()
                continue
            seen.add(real)
            dirnames.sort()
            if TRANSFORMS_FILE not in filenames:
                continue
            dirnames.clear()
            uri = here.relative_to(root).as_posix()
            yield VideoItem(uri=uri, path=here, source=SOURCE, scene_id=scene_id_for(root, here),
                            tier=tier_hint(uri) or self.default_tier)

    def read(self, root: Path, item: VideoItem, policy: KeyframePolicy) -> SceneInputs:
        scene_dir = inside_root(root, item.path)
        transforms_path = inside_root(root, scene_dir / TRANSFORMS_FILE)
        transforms = _load_json(transforms_path)
        found = image_folder(scene_dir, self.downscales)
        if found is None:
            names = ", ".join(f"images_{f}/" if f > 1 else "images/" for f in self.downscales)
            raise SourceError(f"{scene_dir}: no frame folder ({names}) beside {TRANSFORMS_FILE}")
        factor, folder = found
        intrinsics, distortion = _camera(transforms, transforms_path, factor)
        names, camera_to_world = _frames(transforms, transforms_path)
        files = [inside_root(root, folder / name) for name in names]
        for file, name in zip(files, names, strict=True):
            if not file.is_file():
                raise SourceError(f"{file}: missing (frame {name!r} listed in {transforms_path})")

        keyframes = policy.select(len(files))
        size = (intrinsics.width, intrinsics.height)
        expected = f"but {transforms_path} w, h give"  # (w // factor, h // factor)
        rgb = np.stack([_undistorted(read_rgb(files[i], size, expected), intrinsics, distortion)
                        for i in keyframes])
        producer = f"native:{SOURCE}/{TRANSFORMS_FILE}"
        return SceneInputs(
            scene_id=item.scene_id, source=SOURCE, frame_indices=keyframes,
            timestamps_s=[i / self.nominal_fps for i in keyframes], rgb=rgb, fps=self.nominal_fps,
            n_frames=len(files), content=files, tier=item.tier or self.default_tier,
            intrinsics=intrinsics, camera_to_world=camera_to_world[keyframes], up=estimate_up(camera_to_world),
            metric=False,
            provenance={Modality.INTRINSICS: producer, Modality.POSES: producer,
                        Modality.GRAVITY: ESTIMATED_FROM_CAMERAS})


def _load_json(path: Path) -> dict:
    if not path.is_file():
        raise SourceError(f"{path}: missing")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise SourceError(f"{path}: not valid JSON ({err})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SourceError(f"{path}: unreadable ({err})") from None
    if not isinstance(data, dict):
        raise SourceError(f"{path}: not a JSON object (a {type(data).__name__})")
    return data


def _number(data: dict, key: str, where: str, *, default: float | None = None) -> float:
    value = data.get(key, default)
    if value is None:
        raise SourceError(f"{where}: {key}: missing")
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise SourceError(f"{where}: {key}: not a finite number ({value!r})")
    return float(value)


def _camera(transforms: dict, path: Path, factor: int) -> tuple[Intrinsics, np.ndarray]:
    """The pixel K of frames downscaled by `factor`, and the OpenCV distortion coefficients (k1, k2, p1, p2, k3)."""
    where = str(path)
    size = {}
    for key in ("w", "h"):
        value = transforms.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise SourceError(f"{where}: {key}: not a positive integer ({value!r})")
        size[key] = value
    focal = {}
    for key in ("fl_x", "fl_y"):
        focal[key] = _number(transforms, key, where)
        if focal[key] <= 0:
            raise SourceError(f"{where}: {key}: singular intrinsics, the focal length must be positive "
                              f"(got {focal[key]})")
    cx, cy = _number(transforms, "cx", where), _number(transforms, "cy", where)
    model = transforms.get("camera_model", "OPENCV")
    if model not in CAMERA_MODELS:
        raise SourceError(f"{where}: camera_model: {model!r} is not supported ({', '.join(CAMERA_MODELS)})")
    distortion = np.array([_number(transforms, key, where, default=0.0) for key in DISTORTION_KEYS])
    if _number(transforms, "k4", where, default=0.0) != 0:
        raise SourceError(f"{where}: k4: the OPENCV model has no k4 (got {transforms['k4']})")
    if model == "PINHOLE" and distortion.any():
        raise SourceError(f"{where}: camera_model: PINHOLE with non-zero distortion {distortion.tolist()}")
    intrinsics = checked_intrinsics(focal["fl_x"] / factor, focal["fl_y"] / factor, cx / factor, cy / factor,
                                    size["w"] // factor, size["h"] // factor,
                                    where=f"{where}: fl_x, fl_y, cx, cy, w, h ÷ {factor}")
    return intrinsics, distortion


def _frames(transforms: dict, path: Path) -> tuple[list[str], np.ndarray]:
    """The frames' image names in file-name order and their OpenCV camera-to-world poses [N, 4, 4]."""
    frames = transforms.get("frames")
    if not isinstance(frames, list):
        raise SourceError(f"{path}: frames: missing or not a list")
    if not frames:
        raise SourceError(f"{path}: frames: empty, the scene has no registered frame")
    entries: dict[str, np.ndarray] = {}
    for index, frame in enumerate(frames):
        where = f"{path}: frames[{index}]"
        if not isinstance(frame, dict):
            raise SourceError(f"{where}: not a JSON object")
        file_path = frame.get("file_path")
        name = file_path.replace("\\", "/").rsplit("/", 1)[-1] if isinstance(file_path, str) else ""
        if not name:
            raise SourceError(f"{where}: file_path: missing, or not a path to a file ({file_path!r})")
        where = f"{where} ({file_path})"
        if name in entries:
            raise SourceError(f"{where}: file_path: a second frame named {name!r}")
        own = sorted(key for key in CAMERA_KEYS if key in frame and frame[key] != transforms.get(key))
        if own:
            raise SourceError(f"{where}: {', '.join(own)}: per-frame intrinsics are not supported")
        entries[name] = _pose(frame.get("transform_matrix"), f"{where}: transform_matrix")
    names = sorted(entries, key=_natural_key)
    return names, np.stack([entries[name] for name in names])


def _pose(value, where: str) -> np.ndarray:
    try:
        matrix = np.array(value, dtype=float)
    except (TypeError, ValueError):
        raise SourceError(f"{where}: not a 4×4 matrix of numbers") from None
    if matrix.shape != (4, 4) or not np.isfinite(matrix).all():
        raise SourceError(f"{where}: not a finite 4×4 matrix (shape {matrix.shape})")
    if not np.allclose(matrix[3], [0.0, 0.0, 0.0, 1.0]):
        raise SourceError(f"{where}: last row is {matrix[3].tolist()}, not [0, 0, 0, 1]")
    checked_rotation(matrix[:3, :3], where)
    return matrix @ OPENGL_TO_OPENCV


def _undistorted(image: np.ndarray, intrinsics: Intrinsics, distortion: np.ndarray) -> np.ndarray:
    """`image` resampled onto the pinhole camera `intrinsics` (unchanged when there is no distortion)."""
    if not distortion.any():
        return image
    k = np.array([[intrinsics.fx, 0.0, intrinsics.cx - 0.5], [0.0, intrinsics.fy, intrinsics.cy - 0.5],
                  [0.0, 0.0, 1.0]])
    return cv2.undistort(image, k, distortion)
