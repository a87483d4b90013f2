"""DL3DV-10K fixture writer: a synthetic scene as an unzipped DL3DV scene (nerfstudio transforms.json + images_<f>/).

Layout (shared/FORMATS.md §3): `<root>[/<tier folder>]/1K/<64 hex>/transforms.json` and `images_<f>/frame_00001.png…`.
transforms.json holds the FULL-resolution camera (`w`, `h`, `fl_x`, `fl_y`, `cx`, `cy`: the render's K × f, pixel
centres at +0.5 like nerfstudio and COLMAP), `camera_model` "OPENCV" with k1, k2, p1, p2, and `frames[]` with
`file_path` "images/frame_0000i.png" (the folder nerfstudio names, not the downscaled one), `transform_matrix` (c2w,
OpenGL axes) and `colmap_im_id`. The frames are listed out of file-name order, as COLMAP's registration order is.

The dataset's world is COLMAP-like: the synthetic (metric, z-up) world mapped through `dataset_from_synthetic`, a
similarity that scales by `world_scale`, turns synthetic up to about −y and shifts the origin. With non-zero
`distortion` the written frames are the renders distorted by the OPENCV model (an undistortion with the same
coefficients gives the renders back, up to interpolation).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from schemas.annotations import Intrinsics
from schemas.tiers import ScaleTier
from sources.synthetic import SceneRenderer, build_scene
from sources.synthetic.settings import FOCAL_PER_WIDTH
from tests.datasets import FixtureScene

OPENGL_FROM_OPENCV = np.diag([1.0, -1.0, -1.0, 1.0])  # its own inverse: c2w_gl = c2w_cv · diag, c2w_cv = c2w_gl · diag
PRINCIPAL_OFFSET_PX = (2.25, -1.5)  # principal point off the image centre, so a reader that assumes w/2 is caught
APPLIED_TRANSFORM = [[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, -1.0, 0.0]]  # nerfstudio's, informative


def scene_hash(tier: ScaleTier, seed: int) -> str:
    """The fixture scene's 64-hex folder name (DL3DV names scenes by a SHA-256)."""
    return hashlib.sha256(f"spacevista-dl3dv-fixture/{tier.value}/{seed}".encode()).hexdigest()


def dataset_from_synthetic(world_scale: float) -> np.ndarray:
    """4×4 similarity synthetic → dataset world: scale, then a rotation taking synthetic up (+z) to about −y
    (x by 90°, a yaw of 37° about the new up, then a 5° tilt about z), then a translation."""
    def axis_rotation(axis: int, degrees: float) -> np.ndarray:
        c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
        i, j = [(1, 2), (2, 0), (0, 1)][axis]
        rotation = np.eye(3)
        rotation[i, i], rotation[i, j], rotation[j, i], rotation[j, j] = c, -s, s, c
        return rotation

    rotation = axis_rotation(2, 5.0) @ axis_rotation(1, 37.0) @ axis_rotation(0, 90.0)
    transform = np.eye(4)
    transform[:3, :3] = world_scale * rotation
    transform[:3, 3] = (1.3, -0.4, 2.1)
    return transform


def opencv_camera(intrinsics: Intrinsics) -> np.ndarray:
    """K in OpenCV's pixel convention (pixel i's centre at i): the +0.5 convention's cx, cy less half a pixel."""
    return np.array([[intrinsics.fx, 0.0, intrinsics.cx - 0.5], [0.0, intrinsics.fy, intrinsics.cy - 0.5],
                     [0.0, 0.0, 1.0]])


def distort(rgb: np.ndarray, intrinsics: Intrinsics, coefficients: np.ndarray) -> np.ndarray:
    """The image an OPENCV-model lens with `coefficients` (k1, k2, p1, p2) records of the pinhole image `rgb`:
    distorted pixel p shows the pinhole image at undistort(p)."""
    height, width = rgb.shape[:2]
    k = opencv_camera(intrinsics)
    cols, rows = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    points = np.stack([cols.ravel(), rows.ravel()], axis=1).reshape(-1, 1, 2)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 100, 1e-12)
    ideal = cv2.undistortPoints(points, k, coefficients, R=None, P=k, criteria=criteria).reshape(height, width, 2)
    return cv2.remap(rgb, ideal[..., 0].astype(np.float32), ideal[..., 1].astype(np.float32), cv2.INTER_LINEAR,
                     borderMode=cv2.BORDER_REPLICATE)


def write_dl3dv(root: Path, tier: ScaleTier = ScaleTier.OUTDOOR, seed: int = 0, *, downscale: int = 8,
                full_width: int = 1920, full_height: int = 1080, num_frames: int = 8, world_scale: float = 0.37,
                distortion: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0),
                tier_folder: str | None = None, batch: str = "1K") -> FixtureScene:
    """Render build_scene(tier, seed) at (full // downscale) and write it as one DL3DV scene under `root`
    (`[tier_folder/]batch/<hash>/`). Returns the generator's truth; `intrinsics` is the render's K at the written
    resolution and `camera_to_world` the synthetic-world OpenCV poses of frames 1…num_frames."""
    root = Path(root)
    scene = build_scene(tier, seed)
    width, height = full_width // downscale, full_height // downscale
    focal = FOCAL_PER_WIDTH * width
    intrinsics = Intrinsics(fx=focal, fy=focal, cx=width / 2 + PRINCIPAL_OFFSET_PX[0],
                            cy=height / 2 + PRINCIPAL_OFFSET_PX[1], width=width, height=height)
    poses = scene.camera_path.poses(num_frames)
    renderer = SceneRenderer(scene, intrinsics)
    coefficients = np.asarray(distortion, dtype=float)

    folder = root / (tier_folder or "") / batch / scene_hash(tier, seed)
    images = folder / f"images_{downscale}"
    images.mkdir(parents=True, exist_ok=True)
    masks = []
    for index, pose in enumerate(poses):
        frame = renderer.render(pose)
        rgb = distort(frame.rgb, intrinsics, coefficients) if coefficients.any() else frame.rgb
        Image.fromarray(rgb).save(images / f"frame_{index + 1:05d}.png")
        masks.append(frame.mask)

    transform = dataset_from_synthetic(world_scale)
    rotation = transform[:3, :3] / world_scale
    frames = []
    for index in np.random.default_rng(seed).permutation(num_frames):  # COLMAP order, not file-name order
        pose = poses[index]
        dataset_pose = np.eye(4)
        dataset_pose[:3, :3] = rotation @ pose[:3, :3]
        dataset_pose[:3, 3] = transform[:3, :3] @ pose[:3, 3] + transform[:3, 3]
        frames.append({"file_path": f"images/frame_{index + 1:05d}.png",
                       "transform_matrix": (dataset_pose @ OPENGL_FROM_OPENCV).tolist(),
                       "colmap_im_id": int(index) + 1})
    k1, k2, p1, p2 = (float(c) for c in coefficients)
    transforms = {
        "w": full_width, "h": full_height,
        "fl_x": intrinsics.fx * downscale, "fl_y": intrinsics.fy * downscale,
        "cx": intrinsics.cx * downscale, "cy": intrinsics.cy * downscale,
        "k1": k1, "k2": k2, "p1": p1, "p2": p2, "camera_model": "OPENCV",
        "frames": frames, "applied_transform": APPLIED_TRANSFORM,
    }
    (folder / "transforms.json").write_text(json.dumps(transforms, indent=2))
    return FixtureScene(root=root, scene_id=f"dl3dv_{scene_hash(tier, seed)[:12]}", tier=tier,
                        annotation=scene.annotation, camera_to_world=poses, intrinsics=intrinsics,
                        masks=np.stack(masks), dataset_from_synthetic=transform)
