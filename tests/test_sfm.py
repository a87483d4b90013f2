"""pycolmap SfM on rendered keyframes: registration, intrinsics, poses against the renderer's exact cameras."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.specialist_quality import umeyama
from schemas.specialists import SfMConfig
from schemas.tiers import ScaleTier
from sources.synthetic import RenderSettings, SceneRenderer, build_scene
from specialists.sfm import SfMError, SfMReconstruction, reconstruct, up_direction

SETTINGS = RenderSettings(width=320, height=240, num_frames=8)


@pytest.fixture(scope="module")
def rendered():
    """An orbit around a tabletop: RGB keyframes, exact camera-to-world poses and up."""
    scene = build_scene(ScaleTier.TABLETOP, 0)
    renderer = SceneRenderer(scene, SETTINGS.intrinsics())
    poses = scene.camera_path.poses(SETTINGS.num_frames)
    rgb = np.stack([renderer.render(pose).rgb for pose in poses])
    return rgb, np.asarray(poses), np.asarray(scene.annotation.up)


@pytest.fixture(scope="module")
def reconstruction(rendered, tmp_path_factory) -> SfMReconstruction:
    return reconstruct(rendered[0], tmp_path_factory.mktemp("sfm"), SfMConfig(overlap=4))


def test_registers_every_keyframe_with_the_true_focal_length(reconstruction):
    rec = reconstruction
    k = SETTINGS.intrinsics()
    assert rec.registered.all()
    assert rec.fx == pytest.approx(k.fx, rel=0.03)
    assert (rec.width, rec.height, rec.cx, rec.cy) == (k.width, k.height, k.cx, k.cy)
    assert rec.mean_reprojection_px < 1.0
    assert len(rec.points_xyz) > 100


def test_camera_centres_match_ground_truth_up_to_a_similarity(reconstruction, rendered):
    truth = rendered[1][:, :3, 3]
    scale, rotation, shift = umeyama(reconstruction.camera_to_world[:, :3, 3], truth)
    aligned = scale * reconstruction.camera_to_world[:, :3, 3] @ rotation.T + shift
    path = np.linalg.norm(np.diff(truth, axis=0), axis=1).sum()
    assert np.linalg.norm(aligned - truth, axis=1).max() < 0.01 * path


def test_observations_reproject_onto_their_points(reconstruction):
    rec = reconstruction
    for i in range(len(rec.registered)):
        uv, index = rec.observations[i]
        pose = rec.camera_to_world[i]
        cam = (rec.points_xyz[index] - pose[:3, 3]) @ pose[:3, :3]
        projected = np.stack([rec.fx * cam[:, 0] / cam[:, 2] + rec.cx, rec.fy * cam[:, 1] / cam[:, 2] + rec.cy], 1)
        assert len(uv) > 20
        assert np.median(np.linalg.norm(projected - uv, axis=1)) < 1.0


def test_up_direction_matches_gravity(reconstruction, rendered):
    rec = reconstruction
    # rotate the estimate into the world frame with the rotation that best maps SfM camera axes onto the true ones
    u, _, vt = np.linalg.svd(sum(truth[:3, :3] @ pose[:3, :3].T
                                 for truth, pose in zip(rendered[1], rec.camera_to_world)))
    up = (u @ vt) @ up_direction(rec)
    assert np.degrees(np.arccos(np.clip(up @ rendered[2], -1, 1))) < 2.0


def test_arrays_round_trip(reconstruction):
    back = SfMReconstruction.from_arrays(reconstruction.to_arrays())
    assert np.array_equal(back.camera_to_world, reconstruction.camera_to_world)
    assert (back.fx, back.cy, back.width) == (reconstruction.fx, reconstruction.cy, reconstruction.width)
    for (uv, index), (uv2, index2) in zip(reconstruction.observations, back.observations):
        assert np.array_equal(uv, uv2) and np.array_equal(index, index2)


def test_textureless_keyframes_raise_a_clear_error(tmp_path):
    grey = np.full((5, 96, 128, 3), 128, dtype=np.uint8)
    with pytest.raises(SfMError, match="no reconstruction from 5 keyframes"):
        reconstruct(grey, tmp_path, SfMConfig())


def test_too_few_keyframes_raise_a_clear_error(rendered, tmp_path):
    with pytest.raises(SfMError, match="1 keyframe"):
        reconstruct(rendered[0][:1], tmp_path, SfMConfig())


def test_only_max_keyframes_take_part(rendered, tmp_path):
    rec = reconstruct(rendered[0], tmp_path, SfMConfig(max_keyframes=4, matcher="exhaustive"))
    assert rec.registered.sum() <= 4
    assert np.isnan(rec.camera_to_world[~rec.registered]).all()
    assert all(len(index) == 0 for (_, index), ok in zip(rec.observations, rec.registered) if not ok)
