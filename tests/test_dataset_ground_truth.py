"""Each public dataset's layout, written by its fixture writer from a generated scene, curated through its source
(auto-detected) and the whole pipeline; every answer is held against the generator's exact truth
(tests/datasets/truth.py)."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from tests.datasets.truth import FIXTURES, POSE_ONLY_TASKS, Curated, curate_fixtures, scored
from tests.ground_truth import NUMERIC_TASKS


@pytest.fixture(scope="module")
def curated(tmp_path_factory) -> dict[str, Curated]:
    return curate_fixtures(tmp_path_factory.mktemp("datasets"))


@pytest.mark.parametrize("dataset", list(FIXTURES))
def test_every_item_is_found_by_its_own_source_and_curated(curated, dataset):
    result = curated[dataset]
    assert result.sources == {dataset}
    assert not result.rows["failures"], result.rows["failures"]
    assert len(result.rows["scenes"]) == len(FIXTURES[dataset])
    assert result.rows["qa"], f"{dataset}: no QA"


@pytest.mark.parametrize("dataset", list(FIXTURES))
def test_answers_hold_against_the_generators_truth(curated, dataset):
    scores, worst = defaultdict(list), []
    mc = []
    for tier, task, score, description in scored(curated[dataset]):
        if task in NUMERIC_TASKS:
            scores[tier].append(score)
            worst.append((score, task, description))
        else:
            mc.append((score, task, description))
    for tier, values in scores.items():
        assert np.mean(values) >= 0.98, (dataset, tier, np.mean(values), sorted(worst)[:8])
    wrong = [m for m in mc if m[0] < 1]
    assert not wrong, (dataset, f"{len(wrong)}/{len(mc)} multiple-choice answers disagree", wrong[:8])


def test_native_poses_mean_no_sfm_and_native_depth_no_depth_model(curated):
    for dataset in ("wildrgbd", "arkitscenes", "nuscenes", "dl3dv"):
        for scene in curated[dataset].rows["scenes"]:
            assert scene["provenance"]["poses"].startswith(f"native:{dataset}"), scene["provenance"]
            assert scene["scale_method"] is None
    for dataset in ("arkitscenes", "nuscenes"):  # their own boxes: no detector, no lifting
        for scene in curated[dataset].rows["scenes"]:
            assert scene["provenance"]["masks"].startswith(f"native:{dataset}"), scene["provenance"]


def test_a_non_metric_source_keeps_pose_only_tasks_and_counts_its_metric_gate(curated):
    result = curated["dl3dv"]
    tasks = {row["task_type"] for row in result.rows["qa"]}
    assert POSE_ONLY_TASKS <= tasks, tasks
    assert not tasks & {"object_size", "absolute_distance", "depth_estimation", "area_estimation"}
    assert all(not scene["metric"] for scene in result.rows["scenes"])
    assert any(reason == "non_metric_source" for (_, reason) in result.drops), result.drops
