"""The geometry a source without it gets estimated, each against the baseline it replaced, in one run:

1. gravity from the cameras (`sources.gravity.estimate_up`) on every generated camera path (5 tiers × 4 seeds) and
   on a level survey flight that never turns, against the cameras' mean up axis;
2. the metric scale of a DL3DV scene's own up-to-scale poses: points triangulated under those poses
   (`specialists.triangulation`) against the exact rendered depth, sampled off depth edges and, as the baseline,
   at the nearest pixel.

    .venv/bin/python -m benchmarks.source_geometry
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from runtime.offline import quiet_environment
from schemas.tiers import ScaleTier
from sources.contract import KeyframePolicy
from sources.gravity import estimate_up
from sources.registry import discover, get_source
from sources.synthetic import SceneRenderer, build_scene
from specialists import scale_alignment
from specialists.triangulation import triangulate
from tests.datasets.dl3dv_writer import write_dl3dv

WORLD_SCALE = 0.37


def _degrees(up: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(up[2] / np.linalg.norm(up), -1.0, 1.0))))


def gravity() -> None:
    print("gravity from cameras: angle to the true up (degrees)")
    print(f"{'path':30s} {'estimate_up':>12s} {'mean up axis':>13s}")
    for tier in ScaleTier:
        errors, naive = [], []
        for seed in range(4):
            poses = build_scene(tier, seed).camera_path.poses(12)
            errors.append(_degrees(estimate_up(poses)))
            naive.append(_degrees(-poses[:, :3, 1].mean(axis=0)))
        print(f"{tier.value + ' (4 seeds, max)':30s} {max(errors):12.4f} {max(naive):13.2f}")
    survey = []
    for x in np.linspace(0, 200, 10):  # level flight along x, camera pitched 60° down, never turning
        pitch = np.radians(-60.0)
        forward = np.array([np.cos(pitch), 0.0, np.sin(pitch)])
        right = np.array([0.0, -1.0, 0.0])
        pose = np.eye(4)
        pose[:3, :3] = np.stack([right, np.cross(forward, right), forward], axis=1)
        pose[:3, 3] = (x, 0.0, 120.0)
        survey.append(pose)
    survey = np.stack(survey)
    print(f"{'survey flight, no turn':30s} {_degrees(estimate_up(survey)):12.4f} "
          f"{_degrees(-survey[:, :3, 1].mean(axis=0)):13.2f}")


def dl3dv_scale() -> None:
    with tempfile.TemporaryDirectory(prefix="spacevista-geometry-") as workdir:
        root = Path(workdir)
        fixture = write_dl3dv(root, tier=ScaleTier.OUTDOOR, seed=11, num_frames=10, world_scale=WORLD_SCALE,
                              full_width=3840, full_height=2160)
        (item,) = discover(root)
        inputs = get_source("dl3dv").read(root, item, KeyframePolicy(1, 16))
    renderer = SceneRenderer(build_scene(ScaleTier.OUTDOOR, 11, fixture.scene_id), fixture.intrinsics)
    depth = np.stack([renderer.render(fixture.camera_to_world[i]).depth for i in inputs.frame_indices])
    rec = triangulate(inputs.rgb, inputs.intrinsics, inputs.camera_to_world)
    truth = 1 / WORLD_SCALE
    print(f"\nDL3DV scale under its own poses ({inputs.rgb.shape[2]}×{inputs.rgb.shape[1]}, "
          f"{len(rec.points_xyz)} triangulated points, reprojection {rec.mean_reprojection_px:.2f} px); "
          f"truth {truth:.4f} m per unit")
    edge_spread = scale_alignment.EDGE_SPREAD
    for label, spread in (("off depth edges", edge_spread), ("nearest pixel (baseline)", np.inf)):
        scale_alignment.EDGE_SPREAD = spread
        estimate = scale_alignment.align_to_depth(rec, depth)
        print(f"  {label:26s} {estimate.scale:.4f} ({estimate.scale / truth - 1:+.2%}), spread "
              f"{estimate.relative_mad:.1%}, {estimate.n_points} samples")
    scale_alignment.EDGE_SPREAD = edge_spread


if __name__ == "__main__":
    quiet_environment()
    gravity()
    dl3dv_scale()
