"""WildRGB-D (shared/FORMATS.md §1): iPhone RGB-D 360° videos of one object, one scene folder per video.

Layout under the data root (or the root is itself one category folder):
`<category>/scenes/scene_<id>/{rgb,depth,masks}/<i:05d>.png`, `metadata` (JSON without extension: `K`, `w`, `h`)
and `cam_poses.txt`. One item = one scene folder; its scene id is `<category>__scene_<id>`.

Conventions, from the official `wildrgbd_generate_point_cloud.py` and the README:
- K: the 9 numbers are stored column-major, K = reshape(K, 3×3)ᵀ (a K whose bottom row is not (0, 0, 1) after the
  transpose is refused). The official loader back-projects pixel (u, v) at its integer index, so the pixel centre
  convention of this project (centre of pixel (i, j) at (i + 0.5, j + 0.5)) takes cx + 0.5 and cy + 0.5.
- cam_poses.txt: per line the frame id then 16 numbers, a row-major camera-to-world matrix with OpenCV axes, in
  metres, used as-is; line i pairs with `<i:05d>.png`, so the ids must run 0…N−1 (as dust3r asserts).
- depth: uint16 PNG in millimetres (depth_m = png / 1000, 0 = invalid), on the rgb's `w`×`h` grid.
- masks: 8-bit binary foreground of the filmed object: instance 1, whose category is the category folder name.
- No boxes (the pipeline lifts them from the fused masked depth), no gravity: the SLAM world's up is estimated from
  the camera path (an orbit: its plane's normal) and flagged `estimated:camera_up`. No tier mapping either: the
  objects run from razors to cars, so the measured extent decides.
- The files carry no timestamps or frame rate: FRAME_RATE below is this adapter's documented assumption.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from schemas.annotations import Intrinsics
from schemas.paths import inside_root
from sources.contract import (
    KeyframePolicy,
    Modality,
    SceneInputs,
    Source,
    SourceError,
    checked_intrinsics,
    checked_rotation,
    register_source,
)
from sources.discovery import VideoItem
from sources.images import read_binary_mask, read_depth_mm, read_rgb
from sources.gravity import ESTIMATED_FROM_CAMERAS, estimate_up

DATASET = "wildrgbd"
SCENES_DIR = "scenes"
METADATA_FILE = "metadata"
POSES_FILE = "cam_poses.txt"
RGB_DIR, DEPTH_DIR, MASKS_DIR = "rgb", "depth", "masks"
FOREGROUND_ID = 1
FRAME_RATE = 6.0
"""Frames per second assumed for timestamps: WildRGB-D's files (and its README) give no frame rate and no
timestamps, its frames being a subsampled iPhone capture. 6 fps (the synthetic generator's rate) is a nominal
choice: frame order is exact, durations derived from timestamps are not."""
_FRAME_NAME = re.compile(r"^(\d+)\.png$")
_K_TOLERANCE = 1e-6


def frame_name(index: int) -> str:
    return f"{index:05d}.png"


@register_source
class WildRGBDSource(Source):
    name = DATASET
    native = frozenset({Modality.INTRINSICS, Modality.POSES, Modality.DEPTH, Modality.INSTANCES,
                        Modality.CATEGORIES, Modality.METRIC})
    description = ("WildRGB-D: iPhone RGB-D object videos with metric SLAM poses, K, mm depth and a foreground mask "
                   "of one object named by its category folder")

    def detect(self, root: Path) -> bool:
        """A category folder whose `scenes/` holds a scene folder with a cam_poses.txt (stops at the first)."""
        return any((scene_dir / POSES_FILE).is_file() for _, scene_dir in self._scene_dirs(root, ordered=False))

    def discover(self, root: Path) -> Iterator[VideoItem]:
        """Every folder under `<category>/scenes/`, readable or not (read() names what is wrong)."""
        for category, scene_dir in self._scene_dirs(root):
            yield VideoItem(uri=scene_dir.relative_to(root).as_posix(), path=scene_dir, source=self.name,
                            scene_id=f"{category}__{scene_dir.name}", annotations_dir=scene_dir)

    def read(self, root: Path, item: VideoItem, policy: KeyframePolicy) -> SceneInputs:
        scene_dir = inside_root(root, item.path)
        category = item.path.parent.parent.name  # as discovered, before any symlink is resolved
        intrinsics = _read_intrinsics(inside_root(root, scene_dir / METADATA_FILE))
        poses = _read_poses(inside_root(root, scene_dir / POSES_FILE))
        n_frames = len(poses)
        rgb_paths = _frame_paths(root, scene_dir, n_frames)
        keyframes = policy.select(n_frames)
        size, says = (intrinsics.width, intrinsics.height), f"{METADATA_FILE} w × h say"
        rgb = np.stack([read_rgb(rgb_paths[i], size, says) for i in keyframes])
        depth = np.stack([read_depth_mm(inside_root(root, scene_dir / DEPTH_DIR / frame_name(i)), size, says)
                          for i in keyframes])
        foreground = np.stack([read_binary_mask(inside_root(root, scene_dir / MASKS_DIR / frame_name(i)), size, says)
                               for i in keyframes])
        native = f"native:{DATASET}"
        return SceneInputs(
            scene_id=item.scene_id, source=self.name, frame_indices=keyframes,
            timestamps_s=[i / FRAME_RATE for i in keyframes], rgb=rgb, fps=FRAME_RATE, n_frames=n_frames,
            content=rgb_paths, tier=item.tier, intrinsics=intrinsics, camera_to_world=poses[keyframes],
            depth_m=depth, instance_ids=np.where(foreground, FOREGROUND_ID, 0).astype(np.uint16),
            categories={FOREGROUND_ID: category}, boxes=None, up=estimate_up(poses), metric=True,
            provenance={
                Modality.INTRINSICS: f"{native}/{METADATA_FILE}", Modality.POSES: f"{native}/{POSES_FILE}",
                Modality.METRIC: f"{native}/{POSES_FILE}", Modality.DEPTH: f"{native}/{DEPTH_DIR}",
                Modality.INSTANCES: f"{native}/{MASKS_DIR}", Modality.CATEGORIES: f"{native}/{category}",
                Modality.GRAVITY: ESTIMATED_FROM_CAMERAS,
            })

    @staticmethod
    def _scene_dirs(root: Path, ordered: bool = True) -> Iterator[tuple[str, Path]]:
        """(category, scene folder) for each folder in `<category>/scenes/` (hidden ones aside), the root itself
        being one category folder when it holds `scenes/`."""
        if not root.is_dir():
            return
        arrange = sorted if ordered else iter
        categories = [root] if (root / SCENES_DIR).is_dir() else arrange(
            child for child in root.iterdir() if (child / SCENES_DIR).is_dir())
        for category in categories:
            scenes = (p for p in (category / SCENES_DIR).iterdir() if p.is_dir() and not p.name.startswith("."))
            for scene_dir in arrange(scenes):
                yield category.name, scene_dir


def _read_intrinsics(path: Path) -> Intrinsics:
    """K from `metadata`: 9 numbers, column-major; the principal point moved to the pixel-centre convention."""
    if not path.is_file():
        raise SourceError(f"{path}: missing")
    try:
        meta = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SourceError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(meta, dict):
        raise SourceError(f"{path}: expected a JSON object with K, w, h, got {type(meta).__name__}")
    for key in ("K", "w", "h"):
        if key not in meta:
            raise SourceError(f"{path}: no field {key!r}")
    values = meta["K"]
    if (not isinstance(values, list) or len(values) != 9
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)):
        raise SourceError(f"{path}: K: expected 9 numbers, got {values!r}")
    for key in ("w", "h"):
        if not isinstance(meta[key], int) or isinstance(meta[key], bool) or meta[key] <= 0:
            raise SourceError(f"{path}: {key}: expected a positive integer, got {meta[key]!r}")
    k = np.asarray(values, dtype=float).reshape(3, 3).T
    if not np.allclose(k[2], [0.0, 0.0, 1.0], atol=_K_TOLERANCE):
        raise SourceError(f"{path}: K: bottom row of reshape(K, 3×3)ᵀ is {k[2].tolist()}, not [0, 0, 1] "
                          f"(K must be stored column-major: [fx, 0, 0, 0, fy, 0, cx, cy, 1])")
    if abs(k[0, 1]) > _K_TOLERANCE * max(abs(k[0, 0]), 1.0) or abs(k[1, 0]) > _K_TOLERANCE:
        raise SourceError(f"{path}: K: skew or off-diagonal terms {k[0, 1]}, {k[1, 0]} (a pinhole K has none)")
    return checked_intrinsics(k[0, 0], k[1, 1], k[0, 2] + 0.5, k[1, 2] + 0.5, meta["w"], meta["h"],
                              where=f"{path}: K")


def _read_poses(path: Path) -> np.ndarray:
    """[N, 4, 4] camera-to-world, one per line of `cam_poses.txt`, the ids running 0…N−1."""
    if not path.is_file():
        raise SourceError(f"{path}: missing")
    poses = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}: line {number}"
        try:
            values = [float(token) for token in line.split()]
        except ValueError:
            raise SourceError(f"{where}: not numbers: {line.strip()[:80]!r}") from None
        if len(values) != 17:
            raise SourceError(f"{where}: {len(values)} numbers, expected 17 (frame id + 4×4 camera-to-world)")
        if not math.isfinite(values[0]) or values[0] != len(poses):
            raise SourceError(f"{where}: frame id {values[0]:g}, expected {len(poses)} (ids must run 0…N−1 "
                              f"in order, line i pairing with rgb/{frame_name(len(poses))})")
        pose = np.asarray(values[1:]).reshape(4, 4)
        checked_rotation(pose[:3, :3], f"{where} (frame {len(poses)}): camera-to-world rotation")
        if not np.isfinite(pose[:3, 3]).all() or not np.allclose(pose[3], [0, 0, 0, 1]):
            raise SourceError(f"{where} (frame {len(poses)}): translation {pose[:3, 3].tolist()} / last row "
                              f"{pose[3].tolist()} (expected finite and [0, 0, 0, 1])")
        poses.append(pose)
    if not poses:
        raise SourceError(f"{path}: no poses")
    return np.stack(poses)


def _frame_paths(root: Path, scene_dir: Path, n_frames: int) -> list[Path]:
    """rgb/00000.png … one per pose line; a frame without a pose line, or a pose line without its frame, is an
    error (nothing is dropped silently)."""
    rgb_dir = scene_dir / RGB_DIR
    if not rgb_dir.is_dir():
        raise SourceError(f"{rgb_dir}: missing")
    for path in sorted(rgb_dir.glob("*.png")):
        match = _FRAME_NAME.match(path.name)
        if match is None:
            raise SourceError(f"{path}: not a frame name (<i:05d>.png)")
        if int(match.group(1)) >= n_frames:
            raise SourceError(f"{scene_dir / POSES_FILE}: no pose line for frame {int(match.group(1))} ({path}); "
                              f"the file has {n_frames} lines")
    paths = [rgb_dir / frame_name(i) for i in range(n_frames)]
    for index, path in enumerate(paths):
        if not path.is_file():
            raise SourceError(f"{path}: missing (cam_poses.txt has a pose for frame {index})")
        inside_root(root, path)
    return paths
