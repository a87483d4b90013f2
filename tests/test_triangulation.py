"""A source with its own up-to-scale poses (DL3DV) put to metric scale: points triangulated with those poses,
compared with metric depth; and, through the pipeline, the fill step doing it only when a depth specialist exists."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.fill import Specialists, TierSpecialists, fill_missing
from schemas.specialists import DepthModelConfig, DetectorConfig, TierProfile
from schemas.tiers import ScaleTier
from sources.contract import KeyframePolicy, Modality
from sources.registry import discover, get_source
from sources.synthetic import SceneRenderer, build_scene
from specialists.cache import SpecialistCache
from specialists.runner import local_runners, unavailable
from specialists.scale_alignment import align_to_depth
from specialists.triangulation import triangulate
from storage.layout import OutputLayout
from tests.datasets.dl3dv_writer import write_dl3dv
from tests.tiny_models import random_yolo_yaml

WORLD_SCALE = 0.37


@pytest.fixture(scope="module")
def dl3dv(tmp_path_factory):
    root = tmp_path_factory.mktemp("dl3dv")
    fixture = write_dl3dv(root, tier=ScaleTier.OUTDOOR, seed=11, num_frames=10, world_scale=WORLD_SCALE,
                          full_width=3840, full_height=2160)  # images_8: 480×270, DL3DV's 480P
    (item,) = discover(root)
    return fixture, get_source("dl3dv").read(root, item, KeyframePolicy(1, 16)), root


def test_triangulated_points_give_the_true_scale_against_true_depth(dl3dv):
    fixture, inputs, _ = dl3dv
    renderer = SceneRenderer(build_scene(ScaleTier.OUTDOOR, 11, fixture.scene_id), fixture.intrinsics)
    depth = np.stack([renderer.render(fixture.camera_to_world[i]).depth for i in inputs.frame_indices])
    rec = triangulate(inputs.rgb, inputs.intrinsics, inputs.camera_to_world)
    assert len(rec.points_xyz) > 50 and rec.mean_reprojection_px < 1.0
    scale = align_to_depth(rec, depth)
    assert scale.scale == pytest.approx(1 / WORLD_SCALE, rel=0.01) and scale.relative_mad < 0.05, scale


def test_without_a_depth_specialist_the_source_stays_non_metric_and_nothing_runs(dl3dv, tmp_path):
    _, inputs, _ = dl3dv
    cache = SpecialistCache(OutputLayout(tmp_path))
    filled = fill_missing(inputs, None, cache, "video")
    assert not filled.inputs.metric and filled.scale is None and not cache.misses
    assert filled.inputs.provenance[Modality.GRAVITY].startswith("estimated:")


def test_with_a_depth_specialist_native_poses_are_scaled_not_replaced(dl3dv, tiny_depth_anything, tmp_path):
    _, inputs, _ = dl3dv
    profile = TierProfile(depth=DepthModelConfig(weights=tiny_depth_anything["metric"], kind="metric",
                                                 input_size=28),
                          detector=DetectorConfig(weights=random_yolo_yaml(tmp_path / "yolo"), image_size=64))
    specialists = TierSpecialists(profile=profile, runners=local_runners(profile), unavailable=unavailable(profile))
    cache = SpecialistCache(OutputLayout(tmp_path / "out"))
    filled = fill_missing(inputs, Specialists(default=specialists).for_tier(ScaleTier.OUTDOOR), cache, "video")
    assert filled.inputs.metric and filled.scale.method == "depth_ratio"
    assert set(cache.misses) == {"pose_triangulation", specialists.runners["depth"].spec.name,
                                 specialists.runners["detection"].spec.name}  # no SfM: the poses are the source's
    assert filled.inputs.provenance[Modality.POSES] == inputs.provenance[Modality.POSES]
    assert filled.inputs.provenance[Modality.METRIC].startswith("depth_ratio:pose_triangulation:")
    rotations = filled.inputs.camera_to_world[:, :3, :3]
    assert np.allclose(rotations, inputs.camera_to_world[:, :3, :3])  # only the translation is rescaled
    ratio = np.linalg.norm(np.diff(filled.inputs.camera_to_world[:, :3, 3], axis=0), axis=1) / np.linalg.norm(
        np.diff(inputs.camera_to_world[:, :3, 3], axis=0), axis=1)
    assert np.allclose(ratio, filled.scale.scale)
