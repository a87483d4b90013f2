"""WildRGB-D fixture (shared/FORMATS.md §1): a synthetic scene filmed on its orbit, written as one scene folder.

`<category>/scenes/scene_<seed>/{rgb,depth,masks}/<i:05d>.png`, `metadata` (K column-major, in the dataset's
integer-index pixel convention: cx, cy = render's − 0.5), `cam_poses.txt` (frame id + row-major c2w, OpenCV, m),
and the category's `types.json`, `nvs_list.json`, `camera_eval_list.json` (merged when the category already has
them). The foreground is the scene's largest object by volume; its mask is 255, everything else 0. The dataset's
world is the synthetic one turned y-up (like an ARKit session's) and moved: `dataset_from_synthetic`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

from schemas.annotations import Intrinsics, ObjectAnnotation, SceneAnnotation
from schemas.tiers import ScaleTier
from sources.synthetic import SceneRenderer, build_scene
from sources.synthetic.settings import FOCAL_PER_WIDTH
from tests.datasets import FixtureScene

FY_OVER_FX = 1.08  # fx ≠ fy and an off-centre principal point, so a transposed or swapped K fails
PRINCIPAL_OFFSET_PX = (7.25, -5.5)


def foreground_object(annotation: SceneAnnotation) -> ObjectAnnotation:
    """The object the fixture's masks show: the largest by volume."""
    return max(annotation.objects, key=lambda o: math.prod(o.box.size))


def dataset_world_from_synthetic() -> np.ndarray:
    """Synthetic z-up world → a y-up SLAM world, yawed by 30° about its up and offset."""
    z_up_to_y_up = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])
    c, s = math.cos(math.radians(30.0)), math.sin(math.radians(30.0))
    yaw_about_y = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    transform = np.eye(4)
    transform[:3, :3] = yaw_about_y @ z_up_to_y_up
    transform[:3, 3] = (0.31, -0.12, 0.47)
    return transform


def write_wildrgbd(root: Path, tier: ScaleTier = ScaleTier.TABLETOP, seed: int = 0, *, width: int = 256,
                   height: int = 192, num_frames: int = 8, category: str | None = None) -> FixtureScene:
    scene = build_scene(tier, seed)
    target = foreground_object(scene.annotation)
    category = category or target.category
    focal = FOCAL_PER_WIDTH * width
    intrinsics = Intrinsics(fx=focal, fy=focal * FY_OVER_FX, cx=width / 2 + PRINCIPAL_OFFSET_PX[0],
                            cy=height / 2 + PRINCIPAL_OFFSET_PX[1], width=width, height=height)
    renderer = SceneRenderer(scene, intrinsics)
    poses = scene.camera_path.poses(num_frames)
    to_dataset = dataset_world_from_synthetic()

    scene_name = f"scene_{seed}"
    category_dir = Path(root) / category
    scene_dir = category_dir / "scenes" / scene_name
    for sub in ("rgb", "depth", "masks"):
        (scene_dir / sub).mkdir(parents=True, exist_ok=True)
    masks, pose_lines = [], []
    for index, pose in enumerate(poses):
        frame = renderer.render(pose)
        name = f"{index:05d}.png"
        Image.fromarray(frame.rgb).save(scene_dir / "rgb" / name)
        depth_mm = np.clip(np.rint(frame.depth.astype(np.float64) * 1000.0), 0, np.iinfo(np.uint16).max)
        Image.fromarray(depth_mm.astype(np.uint16)).save(scene_dir / "depth" / name)
        Image.fromarray(np.where(frame.mask == target.instance_id, 255, 0).astype(np.uint8)).save(
            scene_dir / "masks" / name)
        masks.append(frame.mask)
        pose_lines.append(" ".join([str(index), *(format(v, ".17g") for v in (to_dataset @ pose).ravel())]))
    (scene_dir / "cam_poses.txt").write_text("\n".join(pose_lines) + "\n")
    k_integer_index = np.array([[intrinsics.fx, 0.0, intrinsics.cx - 0.5],
                                [0.0, intrinsics.fy, intrinsics.cy - 0.5], [0.0, 0.0, 1.0]])
    (scene_dir / "metadata").write_text(json.dumps(
        {"K": k_integer_index.T.ravel().tolist(), "w": width, "h": height}))  # column-major
    _merge_json(category_dir / "types.json", {scene_name: "single"})
    for split_file in ("nvs_list.json", "camera_eval_list.json"):
        _merge_json(category_dir / split_file, {"train": [f"scenes/{scene_name}"], "val": []})

    return FixtureScene(root=Path(root), scene_id=f"{category}__{scene_name}", tier=tier,
                        annotation=scene.annotation, camera_to_world=poses, intrinsics=intrinsics,
                        masks=np.stack(masks), dataset_from_synthetic=to_dataset)


def _merge_json(path: Path, update: dict) -> None:
    """Add `update` to a category-level JSON (dict entries merged, list entries appended)."""
    data = json.loads(path.read_text()) if path.exists() else {}
    for key, value in update.items():
        if isinstance(value, list):
            data[key] = sorted(set(data.get(key, [])) | set(value))
        else:
            data[key] = value
    path.write_text(json.dumps(data, indent=1))
