"""Camera poses from keyframes: pycolmap SIFT features, sequential (video) or exhaustive matching, incremental
mapping. One shared pinhole camera; poses and points are up to scale (scale_alignment.py makes them metric)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from schemas.specialists import SfMConfig

PYCOLMAP_VERSION = "4.2.1"
MIN_MODEL_IMAGES = 3
"""A reconstruction needs at least this many registered keyframes (COLMAP's default, 10, suits photo sets)."""
HEADING_SPREAD = 0.002
"""Second-smallest eigenvalue of the right axes' scatter above which headings vary enough (about 3°) to fix up."""
PLANE_TRIALS = 300
"""RANSAC samples when looking for the ground plane."""
PLANE_TOLERANCE = 0.02
"""Plane inliers lie within this share of the points' median spread."""


class SfMError(RuntimeError):
    """No usable reconstruction (too few keyframes, no texture, no parallax); the message says which."""


@dataclass
class SfMReconstruction:
    registered: np.ndarray  # bool [N]
    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    camera_to_world: np.ndarray  # float64 [N,4,4], up to scale; NaN for unregistered keyframes
    points_xyz: np.ndarray  # float64 [P,3]
    observations: list[tuple[np.ndarray, np.ndarray]]  # per keyframe: (uv float [k,2], point index int [k])
    mean_reprojection_px: float

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Plain arrays for the specialist cache (no pickle)."""
        frame = np.concatenate([np.full(len(o[1]), i) for i, o in enumerate(self.observations)])
        return {"registered": self.registered, "camera_to_world": self.camera_to_world, "points_xyz": self.points_xyz,
                "camera": np.array([self.fx, self.fy, self.cx, self.cy, self.width, self.height,
                                    self.mean_reprojection_px]),
                "obs_frame": frame.astype(np.int64), "obs_uv": np.concatenate([o[0] for o in self.observations]),
                "obs_point": np.concatenate([o[1] for o in self.observations])}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> SfMReconstruction:
        fx, fy, cx, cy, width, height, error = arrays["camera"].tolist()
        frame = arrays["obs_frame"]
        observations = [(arrays["obs_uv"][frame == i], arrays["obs_point"][frame == i])
                        for i in range(len(arrays["registered"]))]
        return cls(registered=arrays["registered"].astype(bool), fx=fx, fy=fy, cx=cx, cy=cy, width=int(width),
                   height=int(height), camera_to_world=arrays["camera_to_world"], points_xyz=arrays["points_xyz"],
                   observations=observations, mean_reprojection_px=error)


def reconstruct(frames: np.ndarray, workdir: Path, config: SfMConfig) -> SfMReconstruction:
    """Reconstruct one video's keyframes (uint8 RGB [N,H,W,3], in order) in `workdir`.

    Images are written as BMP: once decord is loaded, COLMAP's PNG reader fails ("libpng error: bad parameters
    to zlib", the two wheels' bundled zlib clash). At most `config.max_keyframes` evenly spaced keyframes take
    part; the others stay unregistered."""
    import pycolmap  # noqa: PLC0415 (heavy native module; only the SfM path needs it)

    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise SfMError(f"keyframes must be uint8 [N,H,W,3], got {frames.dtype} {frames.shape}")
    n, height, width = frames.shape[:3]
    if n < MIN_MODEL_IMAGES:
        raise SfMError(f"{n} keyframe(s): structure from motion needs at least {MIN_MODEL_IMAGES}")
    used = np.unique(np.linspace(0, n - 1, min(n, config.max_keyframes)).round().astype(int))
    images, database, sparse = workdir / "images", workdir / "database.db", workdir / "sparse"
    images.mkdir(parents=True, exist_ok=True)
    sparse.mkdir(exist_ok=True)
    names = {f"{i:06d}.bmp": int(i) for i in used}
    for name, i in names.items():
        cv2.imwrite(str(images / name), cv2.cvtColor(frames[i], cv2.COLOR_RGB2BGR))
    pycolmap.logging.minloglevel = pycolmap.logging.Level.ERROR.value
    pycolmap.extract_features(database, images, image_names=sorted(names), camera_mode=pycolmap.CameraMode.SINGLE,
                              reader_options=pycolmap.ImageReaderOptions(camera_model="SIMPLE_PINHOLE"),
                              device=pycolmap.Device.cpu)
    if config.matcher == "sequential":
        pycolmap.match_sequential(database, pairing_options=pycolmap.SequentialPairingOptions(
            overlap=config.overlap, quadratic_overlap=False), device=pycolmap.Device.cpu)
    else:
        pycolmap.match_exhaustive(database, device=pycolmap.Device.cpu)
    options = pycolmap.IncrementalPipelineOptions(min_model_size=MIN_MODEL_IMAGES, multiple_models=False,
                                                  random_seed=0)
    models = pycolmap.incremental_mapping(database, images, sparse, options=options)
    if not models:
        raise SfMError(f"no reconstruction from {len(used)} keyframes: too few matched features "
                       f"(textureless or blurred frames) or too little camera motion")
    model = max(models.values(), key=lambda m: m.num_reg_images())
    return _to_reconstruction(model, names, n, width, height)


def _to_reconstruction(model, names: dict[str, int], n: int, width: int, height: int) -> SfMReconstruction:
    camera = next(iter(model.cameras.values()))
    f, cx, cy = (float(v) for v in camera.params)
    point_ids = sorted(model.points3D)
    index_of = {pid: k for k, pid in enumerate(point_ids)}
    points = np.array([model.points3D[pid].xyz for pid in point_ids], dtype=np.float64).reshape(-1, 3)
    poses = np.full((n, 4, 4), np.nan)
    empty = (np.zeros((0, 2)), np.zeros(0, dtype=np.int64))
    observations: list[tuple[np.ndarray, np.ndarray]] = [empty] * n
    for image in model.images.values():
        if not image.has_pose:
            continue
        i = names[image.name]
        poses[i] = np.linalg.inv(np.vstack([image.cam_from_world().matrix(), [0.0, 0.0, 0.0, 1.0]]))
        seen = [p for p in image.points2D if p.has_point3D()]
        observations[i] = (np.array([p.xy for p in seen], dtype=np.float64).reshape(-1, 2),
                           np.array([index_of[p.point3D_id] for p in seen], dtype=np.int64))
    return SfMReconstruction(registered=np.isfinite(poses[:, 0, 0]), fx=f, fy=f, cx=cx, cy=cy, width=width,
                             height=height, camera_to_world=poses, points_xyz=points, observations=observations,
                             mean_reprojection_px=float(model.compute_mean_reprojection_error()))


def up_direction(rec: SfMReconstruction) -> np.ndarray:
    """World "up" of a reconstruction, for a camera held without roll (its right axis horizontal).

    When the heading varies, up is the direction most perpendicular to every camera's right axis. On a straight
    path (one heading) that leaves the pitch open; there up is the normal of the dominant plane of the points
    (ground or table) among planes containing the right axis, facing the cameras."""
    poses = rec.camera_to_world[rec.registered]
    rights = poses[:, :3, 0]
    values, vectors = np.linalg.eigh(rights.T @ rights / len(rights))
    if values[1] > HEADING_SPREAD:
        up = vectors[:, 0]
        return up if up @ -poses[:, :3, 1].mean(axis=0) >= 0 else -up
    normal = _dominant_plane_normal(rec.points_xyz, rights.mean(axis=0))
    side = (poses[:, :3, 3] - np.median(rec.points_xyz, axis=0)) @ normal
    return normal if np.median(side) >= 0 else -normal


def _dominant_plane_normal(points: np.ndarray, right: np.ndarray) -> np.ndarray:
    """The normal of the plane through the most points, among planes whose normal is ⊥ `right`."""
    if len(points) < 3:
        raise SfMError(f"{len(points)} reconstructed point(s): too few to find the ground plane")
    if (plane := dominant_plane(points, lambda normal: abs(normal @ right) <= 0.2)) is None:
        raise SfMError("no plane containing the camera's right axis: cannot tell which way is up")
    return plane[0]


def dominant_plane(points: np.ndarray, accepts: Callable[[np.ndarray], bool]) -> tuple[np.ndarray, np.ndarray] | None:
    """RANSAC over at least 3 points: the unit normal of the plane through the most points among those whose
    normal `accepts`, and its inliers (within PLANE_TOLERANCE of the points' median spread); None when no sampled
    plane is accepted."""
    rng = np.random.default_rng(0)
    spread = np.median(np.linalg.norm(points - np.median(points, axis=0), axis=1))
    best, best_count = None, -1
    for _ in range(PLANE_TRIALS):
        a, b, c = points[rng.choice(len(points), 3, replace=False)]
        normal = np.cross(b - a, c - a)
        norm = np.linalg.norm(normal)
        if norm == 0 or not accepts(normal / norm):
            continue
        normal /= norm
        inliers = np.abs((points - a) @ normal) < PLANE_TOLERANCE * spread
        if (count := int(inliers.sum())) > best_count:
            best, best_count = (normal, inliers), count
    return best
