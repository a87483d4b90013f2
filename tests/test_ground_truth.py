"""Every QA answer of the default run, checked against the generator's ground truth.

Numeric answers are recomputed here with plain numpy from scene.json / cameras.json / masks.npz (not through
the facts code); multiple-choice answers are re-solved by the task's own template over facts built straight from
the exact boxes (facts/exact.py), never from the lifted depth.
"""

from __future__ import annotations

import json
from collections import defaultdict

import duckdb
import numpy as np
import pytest

from facts.exact import exact_scene_facts
from qa_templates.base import template_for
from schemas.qa import TASK_TIERS, TaskType
from schemas.tiers import ScaleTier
from storage.commits import read_manifest
from storage.layout import OutputLayout
from tests.ground_truth import NUMERIC_TASKS, GroundTruth
from training.metrics import mean_relative_accuracy


def _qa(run) -> list[dict]:
    with duckdb.connect(str(run.output / "catalog.duckdb"), read_only=True) as con:
        return con.sql("SELECT * FROM qa").to_arrow_table().to_pylist()


@pytest.mark.e2e
def test_numeric_answers_match_ground_truth(default_run):
    truths: dict[str, GroundTruth] = {}
    scores: dict[str, list[float]] = defaultdict(list)
    worst: list[tuple[float, str]] = []
    for row in _qa(default_run):
        if row["task_type"] not in NUMERIC_TASKS:
            continue
        truth = truths.setdefault(row["scene_id"], GroundTruth.from_scene_dir(default_run.data_root / row["scene_id"]))
        expected = truth.numeric(row)
        score = mean_relative_accuracy(row["answer"]["value_si"], expected)
        scores[row["scale"]].append(score)
        worst.append((score, f"{row['scene_id']} {row['task_type']} {dict(row['query'])} "
                             f"{row['answer']['value_si']:.4g} vs {expected:.4g}"))
    report = {tier: (round(float(np.mean(s)), 4), len(s)) for tier, s in sorted(scores.items())}
    print("numeric MRA per tier (mean, n):", report)
    assert set(scores) == {t.value for t in ScaleTier}, report
    for tier, values in scores.items():
        assert np.mean(values) >= 0.98, (tier, report, sorted(worst)[:10])


@pytest.mark.e2e
def test_multiple_choice_answers_agree_with_ground_truth_geometry(default_run):
    exact_facts = {}
    disagreements, checked = [], 0
    for row in _qa(default_run):
        if row["answer"]["kind"] != "multiple_choice":
            continue
        key = (row["scene_id"], tuple(row["frame_indices"]))
        if key not in exact_facts:
            truth = GroundTruth.from_scene_dir(default_run.data_root / row["scene_id"])
            exact_facts[key] = exact_scene_facts(truth.scene, truth.track, list(row["frame_indices"]),
                                                 row["video_id"])
        expected = template_for(row["task_type"]).solve(exact_facts[key], tuple(row["object_ids"]),
                                                        dict(row["query"]))
        answer = row["answer"]
        stored = answer["options"]["ABCDE".index(answer["correct_letter"])]
        checked += 1
        if stored != expected:
            disagreements.append((row["scene_id"], row["task_type"], dict(row["query"]), stored, expected))
    print(f"multiple-choice answers checked against ground truth: {checked}, disagreeing: {len(disagreements)}")
    assert checked > 0
    assert not disagreements, f"{len(disagreements)}/{checked} MC answers disagree: {disagreements[:10]}"


@pytest.mark.e2e
def test_every_task_present_in_every_tier_it_belongs_to(default_run):
    with duckdb.connect(str(default_run.output / "catalog.duckdb"), read_only=True) as con:
        present = set(con.sql("SELECT DISTINCT scale, task_type FROM qa").fetchall())
    expected = {(tier.value, task.value) for task in TaskType for tier in TASK_TIERS[task]}
    assert expected - present == set(), sorted(expected - present)
    assert {task for _, task in present} == {t.value for t in TaskType}
    assert present <= expected, sorted(present - expected)


@pytest.mark.e2e
def test_summary_and_catalog_views(default_run):
    assert "succeeded" in default_run.stdout
    with duckdb.connect(str(default_run.output / "catalog.duckdb"), read_only=True) as con:
        counts = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                  for t in ("videos", "frames", "scenes", "objects", "cameras", "qa", "rejects", "failures", "runs")}
        letters = dict(con.execute("SELECT answer.correct_letter, count(*) FROM qa "
                                   "WHERE answer.kind = 'multiple_choice' "
                               "AND len(answer.options) = 4 GROUP BY 1").fetchall())
    assert counts["videos"] == counts["scenes"] == 10 and counts["failures"] == 0 and counts["runs"] == 1
    assert counts["qa"] > 500 and counts["frames"] > 100
    shares = np.array(list(letters.values())) / sum(letters.values())
    assert len(letters) == 4 and shares.min() > 0.15, letters  # balanced answer letters over 4-option questions
    manifest = read_manifest(OutputLayout(default_run.output), "qa")
    assert sum(f["rows"] for f in manifest["files"].values()) == counts["qa"]


@pytest.mark.e2e
def test_manipulation_plans_are_collision_free_among_ground_truth_boxes(default_run):
    """Obstacles are every annotated box, seen or not, in the row's canonical frame."""
    from facts.canonical import canonical_from_world, yaw_in_canonical
    from qa_templates.motion_planning import Box, path_collides

    checked = 0
    for row in _qa(default_run):
        if row["task_type"] != "manipulation_planning":
            continue
        truth = GroundTruth.from_scene_dir(default_run.data_root / row["scene_id"])
        canonical = canonical_from_world(truth.poses[row["frame_indices"][0]], np.asarray(truth.scene.up))
        boxes = {object_id: Box(tuple(canonical[:3, :3] @ np.asarray(o.box.center) + canonical[:3, 3]),
                                tuple(o.box.size), yaw_in_canonical(canonical, o.box.yaw_deg))
                 for object_id, o in truth.boxes.items()}
        moved = boxes[row["object_ids"][0]]
        obstacles = [box for object_id, box in boxes.items() if object_id != row["object_ids"][0]]
        waypoints = json.loads(dict(row["query"])["plan"])
        assert not path_collides(waypoints, moved, obstacles), (row["scene_id"], row["question"])
        checked += 1
    assert checked > 0


@pytest.mark.e2e
def test_summary_is_published_as_a_prefect_table_artifact(default_run):
    import asyncio
    import re

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    run_id = re.search(r"run (run-\S+): succeeded", default_run.stdout).group(1)

    async def artifacts():
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["curate-summary"])))

    (artifact,) = [a for a in asyncio.run(artifacts()) if run_id in (a.description or "")]
    table = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    assert artifact.type == "table" and {row["task_type"] for row in table} == {t.value for t in TaskType}
