"""Plain videos through the specialists: facts and QA with provenance, cached outputs, the scale gate, and bad
input (no texture, one frame, nothing detected, a specialist without weights) ending as clear reasons."""

from __future__ import annotations

import shutil

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.shard import Shard, curate_shard
from pipeline.fill import Specialists, TierSpecialists
from qa_templates.gates import METRIC_POWER, POSE_FREE_TASKS, SCALE_UNCERTAIN, WEAK_RECONSTRUCTION
from qa_templates.generate import generate_scene_qa
from schemas.config import CurateConfig
from schemas.specialists import DepthModelConfig, DetectorConfig, SfMConfig, TierProfile
from schemas.tiers import ScaleTier
from sources import video_folder
from sources.synthetic import RenderSettings, generate_scene
from sources.synthetic.video import Mp4Writer
from specialists.runner import local_runners, unavailable
from storage.layout import OutputLayout
from tests.builders import tabletop_facts
from tests.tiny_models import random_yolo_yaml

SETTINGS = RenderSettings(width=320, height=240, num_frames=8)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    """tabletop/clip.mp4 (a rendered orbit, no annotations), flat.mp4 (uniform grey), one_frame.mp4."""
    root = tmp_path_factory.mktemp("plain-videos")
    scene = generate_scene(ScaleTier.TABLETOP, 0, tmp_path_factory.mktemp("render") / "scene", settings=SETTINGS)
    (root / "tabletop").mkdir()
    shutil.copy(scene / "video.mp4", root / "tabletop" / "clip.mp4")
    for name, n_frames in (("flat.mp4", 8), ("one_frame.mp4", 1)):
        with Mp4Writer(root / name, SETTINGS.width, SETTINGS.height, SETTINGS.fps) as video:
            for _ in range(n_frames):
                video.write(np.full((SETTINGS.height, SETTINGS.width, 3), 128, np.uint8))
    return root


@pytest.fixture(scope="module")
def profile(tiny_depth_anything, tmp_path_factory) -> TierProfile:
    """A metric random-init Depth Anything and a random-init YOLO (which detects nothing)."""
    return TierProfile(depth=DepthModelConfig(weights=tiny_depth_anything["metric"], kind="metric", input_size=28),
                       detector=DetectorConfig(weights=random_yolo_yaml(tmp_path_factory.mktemp("yolo")),
                                               image_size=64),
                       sfm=SfMConfig(overlap=4), keyframe_stride=1)


def _specialists(profile: TierProfile) -> Specialists:
    return Specialists(default=TierSpecialists(profile=profile, runners=local_runners(profile),
                                               unavailable=unavailable(profile)))


def _run(data_root, output, specialists: Specialists | None):
    config = CurateConfig(data_root=data_root, output_root=output, generate_default_data=False, max_keyframes=8)
    items = tuple(video_folder.discover(data_root))
    return items, curate_shard(Shard(shard_id="plain", items=items), config, "run-plain", specialists), output


@pytest.fixture(scope="module")
def first_and_second_run(data_root, profile, tmp_path_factory):
    output = tmp_path_factory.mktemp("output")
    specialists = _specialists(profile)
    return specialists, _run(data_root, output, specialists), _run(data_root, output, specialists)


def test_tier_hint_comes_from_the_enclosing_tier_folder(data_root):
    tiers = {item.uri: item.tier for item in video_folder.discover(data_root)}
    assert tiers == {"tabletop/clip.mp4": ScaleTier.TABLETOP, "flat.mp4": None, "one_frame.mp4": None}


def test_bad_videos_fail_with_reasons_and_the_good_one_completes(first_and_second_run):
    _, (items, result, _), _ = first_and_second_run
    failures = {f.uri: (f.stage, f.message) for f in result.failures}
    assert set(failures) == {"flat.mp4", "one_frame.mp4"}
    assert failures["flat.mp4"][0] == "facts" and "no reconstruction from 8 keyframes" in failures["flat.mp4"][1]
    assert failures["one_frame.mp4"][0] == "facts" and "1 keyframe(s)" in failures["one_frame.mp4"][1]
    assert result.row_counts["videos"] == 3  # every video is ingested, whatever happens to its facts
    assert result.row_counts["scenes"] == 1 and result.row_counts["cameras"] >= 7


def test_nothing_detected_gives_no_objects_and_counted_skips(first_and_second_run):
    _, (_, result, _), _ = first_and_second_run
    assert result.row_counts["objects"] == 0
    assert result.drops[("size_comparison", "not_enough_objects")] == 1
    assert all(task not in ("size_comparison", "existence") for (_, task) in result.qa_counts)


def test_rerun_takes_every_specialist_output_from_the_cache(first_and_second_run):
    specialists, (_, first, _), (_, second, _) = first_and_second_run
    # SfM runs first (a failure is cached too), so only the clip that reconstructs reaches depth and detection; the
    # one-frame video stops before SfM (a scene needs two keyframes)
    expected = {"colmap_sfm": 2, **{runner.spec.name: 1 for runner in specialists.default.runners.values()}}
    assert first.cache_misses == expected and not first.cache_hits
    assert second.cache_hits == expected and not second.cache_misses
    assert second.row_counts == first.row_counts and second.drops == first.drops


def test_scene_records_scale_and_specialist_provenance(first_and_second_run):
    specialists, (_, result, output), _ = first_and_second_run
    layout = OutputLayout(output)
    (scene,) = pq.read_table(layout.table_file("scenes", next(f.target for f in result.staged
                                                               if f.table == "scenes"))).to_pylist()
    runners = specialists.default.runners
    assert scene["provenance"] == {"depth": runners["depth"].spec.provenance,
                                   "masks": runners["detection"].spec.provenance,
                                   "poses": scene["provenance"]["poses"]}
    assert scene["provenance"]["poses"].startswith("colmap_sfm:pycolmap-4.2.1@#")
    assert scene["scale_method"] == "depth_ratio" and scene["scale_m_per_unit"] > 0
    assert scene["scale_uncertainty"] >= max(scene["scale_relative_mad"], 0.005)
    assert scene["tier_from"] == "metadata"  # the tabletop/ folder
    qa_file = next(f.target for f in result.staged if f.table == "qa")
    assert {row["provenance"] == scene["provenance"] for row in pq.read_table(layout.table_file("qa", qa_file))
            .to_pylist()} == {True}


def test_missing_specialist_is_reported_not_fabricated(data_root, profile, tmp_path):
    without_detector = TierSpecialists(profile=profile, runners={"depth": local_runners(profile)["depth"]},
                                       unavailable={"detection": "yolo: no weights at /nowhere/best.pt"})
    _, result, _ = _run(data_root, tmp_path, Specialists(default=without_detector))
    messages = {f.uri: f.message for f in result.failures}
    assert messages["tabletop/clip.mp4"] == "detection specialist unavailable: yolo: no weights at /nowhere/best.pt"
    assert "scenes" not in result.row_counts and "qa" not in result.row_counts


def test_relative_depth_without_detections_has_no_scale_and_says_why(data_root, profile, tiny_depth_anything,
                                                                      tmp_path):
    relative = profile.model_copy(update={"depth": DepthModelConfig(weights=tiny_depth_anything["relative"],
                                                                    kind="relative", input_size=28)})
    _, result, _ = _run(data_root, tmp_path, _specialists(relative))
    messages = {f.uri: f.message for f in result.failures}
    assert "no object with a size prior" in messages["tabletop/clip.mp4"]


def test_uncertain_scale_skips_metric_tasks_with_the_reason():
    facts = tabletop_facts()
    certain = generate_scene_qa(facts, "run")
    shaky = facts.model_copy(update={"scene": facts.scene.model_copy(update={
        "scale_method": "size_prior", "scale_m_per_unit": 1.0, "scale_relative_mad": 0.25,
        "scale_uncertainty": 0.25})})
    uncertain = generate_scene_qa(shaky, "run")
    metric = {task.value for task in METRIC_POWER}
    asked = {row.task_type.value for row in certain.rows}
    assert asked & metric  # the exact scene asks metric questions
    assert {row.task_type.value for row in uncertain.rows} == asked - metric
    assert {task for (task, reason) in uncertain.drops if reason == SCALE_UNCERTAIN} == asked & metric


def test_weak_reconstruction_skips_every_task_that_rests_on_its_poses_with_its_own_reason():
    """A weak reconstruction (a wide-set push-in: SfM turned the cameras 38° that never turned) is trusted for no
    geometric answer, metric or not; only what masks and frame order answer is asked."""
    facts = tabletop_facts()
    asked = {row.task_type.value for row in generate_scene_qa(facts, "run").rows}
    weak = facts.model_copy(update={"scene": facts.scene.model_copy(update={
        "scale_method": "depth_ratio", "scale_m_per_unit": 1.0, "scale_relative_mad": 0.001,
        "scale_uncertainty": 0.005, "scale_weakness": "SfM registered 2 of 8 keyframes"})})
    result = generate_scene_qa(weak, "run")
    pose_free = {task.value for task in POSE_FREE_TASKS}
    assert asked - pose_free and asked & pose_free
    assert {row.task_type.value for row in result.rows} == asked & pose_free
    assert {task for (task, reason) in result.drops if reason == WEAK_RECONSTRUCTION} == asked - pose_free
