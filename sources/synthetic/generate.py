"""Generation of annotated synthetic scene directories, one scene or a default dataset over all tiers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from schemas.annotations import (CAMERAS_FILE, DEPTH_FILE, MASKS_FILE, SCENE_FILE, VIDEO_FILE, CameraFrame,
                                 CameraTrack)
from schemas.tiers import ScaleTier
from sources.synthetic.render import SceneRenderer
from sources.synthetic.scene_specs import DEFAULT, WIDE, build_scene, scene_id_for
from sources.synthetic.settings import RenderSettings
from sources.synthetic.video import Mp4Writer
from sources.synthetic.writer import (DEPTH_DTYPES, atomic_scene_dir, is_complete_scene, remove_stale_renders,
                                      save_model, save_npz)


def camera_track(poses: np.ndarray, settings: RenderSettings) -> CameraTrack:
    frames = [CameraFrame(index=i, camera_to_world=tuple(tuple(float(v) for v in row) for row in pose))
              for i, pose in enumerate(poses)]
    return CameraTrack(fps=settings.fps, intrinsics=settings.intrinsics(), depth_unit="m", frames=frames)


WIDE_SETTINGS = RenderSettings(width=256, height=192, num_frames=24)
"""Small frames for the wide variant: its many scenes render and curate in seconds."""


def generate_scene(tier: ScaleTier, seed: int, out_dir: Path, *, settings: RenderSettings = RenderSettings(),
                   scene_id: str | None = None, variant: str = DEFAULT) -> Path:
    """Render and write one scene into `out_dir` (replaced atomically); scene id defaults to the directory name."""
    out_dir = Path(out_dir)
    scene = build_scene(tier, seed, scene_id or out_dir.name, variant)
    poses = scene.camera_path.poses(settings.num_frames)
    renderer = SceneRenderer(scene, settings.intrinsics())
    shape = (settings.num_frames, settings.height, settings.width)
    depth, masks = np.empty(shape, DEPTH_DTYPES[tier]), np.empty(shape, np.uint16)
    with atomic_scene_dir(out_dir) as staging:
        with Mp4Writer(staging / VIDEO_FILE, settings.width, settings.height, settings.fps, settings.crf) as video:
            for i, pose in enumerate(poses):
                frame = renderer.render(pose)
                video.write(frame.rgb)
                depth[i], masks[i] = frame.depth, frame.mask
        save_npz(staging / DEPTH_FILE, "depth", depth)
        save_npz(staging / MASKS_FILE, "masks", masks)
        save_model(staging / CAMERAS_FILE, camera_track(poses, settings))
        save_model(staging / SCENE_FILE, scene.annotation)
    return out_dir


def generate_default_dataset(root: Path, scenes_per_tier: int = 2, base_seed: int = 0, *,
                             settings: RenderSettings = RenderSettings()) -> list[Path]:
    """`scenes_per_tier` scenes of every tier under `root` (ids like `tabletop_000`); complete scenes are kept, the
    partial renders of a killed earlier run removed (each scene is rendered into a hidden folder and renamed)."""
    remove_stale_renders(Path(root))
    scene_dirs = []
    for tier in ScaleTier:
        for seed in range(base_seed, base_seed + scenes_per_tier):
            scene_dir = Path(root) / scene_id_for(tier, seed)
            if not is_complete_scene(scene_dir):
                generate_scene(tier, seed, scene_dir, settings=settings)
            scene_dirs.append(scene_dir)
    return scene_dirs


def generate_wide_dataset(root: Path, scenes_per_tier: int = 5, base_seed: int = 0, *,
                          settings: RenderSettings = WIDE_SETTINGS) -> list[Path]:
    """`scenes_per_tier` wide-variant scenes of every tier under `root` (ids like `wide_tabletop_000`); with five
    consecutive seeds every tier shows all five of its camera motions."""
    scene_dirs = []
    for tier in ScaleTier:
        for seed in range(base_seed, base_seed + scenes_per_tier):
            scene_dir = Path(root) / f"{WIDE}_{scene_id_for(tier, seed)}"
            if not is_complete_scene(scene_dir):
                generate_scene(tier, seed, scene_dir, settings=settings, variant=WIDE)
            scene_dirs.append(scene_dir)
    return scene_dirs
