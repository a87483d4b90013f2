"""Every QA answer of the default run, checked against the generator's ground truth.

Numeric answers are recomputed here with plain numpy from scene.json / cameras.json / masks.npz (not through
the facts code); multiple-choice answers are re-solved by the task's own template over facts built straight from
the exact boxes (facts/exact.py), never from the lifted depth.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict

import numpy as np
import pytest

from facts.exact import exact_scene_facts
from qa_templates.base import template_for
from qa_templates.options import answer_share_limit
from schemas.annotations import OrientedBox
from schemas.paths import source_scene_id
from schemas.qa import TASK_TIERS, TaskType
from schemas.tiers import TIER_SPECS, ScaleTier
from storage.catalog import open_catalog
from storage.commits import read_manifest
from storage.layout import OutputLayout
from tests.ground_truth import (NUMERIC_TASKS, GroundTruth, box_frame, execute_plan_text, overlap_depth,
                                 sweep_depth)
from training.metrics import mean_relative_accuracy


def _truth(default_run, row: dict) -> GroundTruth:
    """The generator's truth of a row's scene, its objects named as curate names them (the rooted scene id)."""
    return GroundTruth.from_scene_dir(default_run.data_root / source_scene_id(row["scene_id"]), row["scene_id"])


def _qa(run) -> list[dict]:
    with open_catalog(OutputLayout(run.output)) as con:
        return con.sql("SELECT * FROM qa").to_arrow_table().to_pylist()


@pytest.mark.e2e
def test_numeric_answers_match_ground_truth(default_run):
    truths: dict[str, GroundTruth] = {}
    scores: dict[str, list[float]] = defaultdict(list)
    worst: list[tuple[float, str]] = []
    for row in _qa(default_run):
        if row["task_type"] not in NUMERIC_TASKS:
            continue
        truth = truths.get(row["scene_id"]) or truths.setdefault(row["scene_id"], _truth(default_run, row))
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
        key = (row["scene_id"], tuple(row["video_frame_numbers"]))
        if key not in exact_facts:
            truth = _truth(default_run, row)
            scene = truth.scene.model_copy(update={"scene_id": row["scene_id"]})
            exact_facts[key] = exact_scene_facts(scene, truth.track, list(row["video_frame_numbers"]),
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
    with open_catalog(OutputLayout(default_run.output)) as con:
        present = set(con.sql("SELECT DISTINCT scale, task_type FROM qa").fetchall())
    expected = {(tier.value, task.value) for task in TaskType for tier in TASK_TIERS[task]}
    assert expected - present == set(), sorted(expected - present)
    assert {task for _, task in present} == {t.value for t in TaskType}
    assert present <= expected, sorted(present - expected)


@pytest.mark.e2e
def test_summary_and_catalog_views(default_run):
    assert "succeeded" in default_run.stdout
    with open_catalog(OutputLayout(default_run.output)) as con:
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


def _canonical_boxes(default_run, row) -> dict[str, OrientedBox]:
    """Every annotated box of the row's scene, seen or not, in the row's canonical frame (its first frame's)."""
    from facts.canonical import canonical_from_world, yaw_in_canonical

    truth = _truth(default_run, row)
    canonical = canonical_from_world(truth.poses[row["video_frame_numbers"][0]], np.asarray(truth.scene.up))
    return {object_id: OrientedBox(center=tuple(canonical[:3, :3] @ np.asarray(o.box.center) + canonical[:3, 3]),
                                   size=o.box.size, yaw_deg=yaw_in_canonical(canonical, o.box.yaw_deg))
            for object_id, o in truth.boxes.items()}


@pytest.mark.e2e
def test_manipulation_plans_are_collision_free_among_ground_truth_boxes(default_run):
    """Obstacles are every annotated box, seen or not, in the row's canonical frame."""
    from qa_templates.motion_planning import Box, path_collides

    checked = 0
    for row in _qa(default_run):
        if row["task_type"] != "manipulation_planning":
            continue
        boxes = {object_id: Box(tuple(box.center), tuple(box.size), box.yaw_deg)
                 for object_id, box in _canonical_boxes(default_run, row).items()}
        moved = boxes[row["object_ids"][0]]
        obstacles = [box for object_id, box in boxes.items() if object_id != row["object_ids"][0]]
        waypoints = json.loads(dict(row["query"])["plan"])
        assert not path_collides(waypoints, moved, obstacles), (row["scene_id"], row["question"])
        checked += 1
    assert checked > 0


@pytest.mark.e2e
def test_manipulation_options_read_literally_leave_one_way_to_the_goal(default_run):
    """Every option executed as worded (tests/ground_truth.py reads the words) against the annotated boxes: the
    correct one reaches the goal beside the target without touching a box, every distractor runs at least the
    tier's margin into one (sampled at an eighth of it) or ends elsewhere."""
    from qa_templates.manipulation_planning import DISTRACTOR_MARGIN_M, RELATIONS

    checked = 0
    for row in _qa(default_run):
        if row["task_type"] != "manipulation_planning":
            continue
        boxes = _canonical_boxes(default_run, row)
        moved, target = (boxes[i] for i in row["object_ids"])
        obstacles = [box for object_id, box in boxes.items() if object_id != row["object_ids"][0]]
        margin = DISTRACTOR_MARGIN_M[ScaleTier(row["scale"])]
        direction = np.array([*RELATIONS[dict(row["query"])["relation"]][0], 0.0])
        valid = []
        for letter, option in zip("ABCDE", row["answer"]["options"]):
            path = execute_plan_text(option, np.asarray(moved.center))
            depth = sweep_depth(path, moved, obstacles, step_m=margin / 8)
            end = OrientedBox(center=tuple(path[-1]), size=moved.size, yaw_deg=moved.yaw_deg)
            reaches = (abs(path[-1][2] - moved.center[2]) < 1e-9 and (path[-1] - target.center) @ direction > 0
                       and overlap_depth(box_frame(end), box_frame(target)) <= 1e-9)
            if reaches and depth <= 1e-6:
                valid.append(letter)
            else:
                assert depth >= 0.9 * margin or not reaches, (row["scene_id"], option, depth)
        assert valid == [row["answer"]["correct_letter"]], (row["scene_id"], row["question"], valid)
        checked += 1
    assert checked > 0


@pytest.mark.e2e
def test_multiple_choice_answers_are_balanced_per_task_and_tier(default_run):
    """No correct option answers more than 40% of a task's rows in a tier; where a scene offered only two answers
    (asked half and half) the tier's bound is half, and yes/no stays within 60%. Within each task every letter
    carries at least half its fair share of the questions with that many options (where there are four per
    letter or more: letters cycle within each scene, scenes start at letters drawn from their ids)."""
    answers, per_scene, letters = defaultdict(Counter), defaultdict(set), defaultdict(Counter)
    for row in _qa(default_run):
        answer = row["answer"]
        if answer["kind"] != "multiple_choice":
            continue
        correct = answer["options"]["ABCDE".index(answer["correct_letter"])]
        answers[(row["task_type"], row["scale"])][correct] += 1
        per_scene[(row["task_type"], row["scale"], row["scene_id"])].add(correct)
        letters[(row["task_type"], len(answer["options"]))][answer["correct_letter"]] += 1
    two_answer_cells = {key[:2] for key, seen in per_scene.items() if len(seen) == 2}
    skewed = {}
    for key, counts in sorted(answers.items()):
        top, n_top = counts.most_common(1)[0]
        limit = answer_share_limit(top, 2 if key in two_answer_cells else len(counts))
        if n_top > limit * sum(counts.values()) + 1e-9:
            skewed[key] = (top, n_top, sum(counts.values()))
    print("largest answer share per MC task x tier:", {k: round(c.most_common(1)[0][1] / sum(c.values()), 2)
                                                       for k, c in sorted(answers.items())})
    assert not skewed, skewed
    unbalanced = {key: dict(counts) for key, counts in letters.items() if sum(counts.values()) >= 4 * key[1]
                  and min(counts.get(letter, 0) for letter in "ABCDE"[:key[1]]) < 0.5 * sum(counts.values()) / key[1]}
    assert not unbalanced, unbalanced


@pytest.mark.e2e
def test_questions_read_as_words_and_stay_short(default_run):
    """No snake_case class names ('tv_stand' is 'tv stand'), no question past MAX_QUESTION_CHARS."""
    from qa_templates.generate import MAX_QUESTION_CHARS

    rows = _qa(default_run)
    snake = [(r["task_type"], word) for r in rows for word in re.findall(r"\b[a-z]+_[a-z_]+\b", r["question"])]
    assert not snake, Counter(snake).most_common(10)
    longest = max(rows, key=lambda r: len(r["question"]))
    assert len(longest["question"]) <= MAX_QUESTION_CHARS, (longest["task_type"], len(longest["question"]))


@pytest.mark.e2e
def test_default_scenes_measure_inside_their_tier(default_run):
    with open_catalog(OutputLayout(default_run.output)) as con:
        extents = con.execute("SELECT scene_id, scale, extent_m FROM scenes").fetchall()
    outside = [(scene, tier, round(extent, 3)) for scene, tier, extent in extents
               if not TIER_SPECS[ScaleTier(tier)].min_extent_m <= extent <= TIER_SPECS[ScaleTier(tier)].max_extent_m]
    assert len(extents) == 10 and not outside, outside


@pytest.mark.e2e
def test_summary_is_published_as_a_prefect_table_artifact(default_run):
    import asyncio
    import re

    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey,
                                                FlowRunFilter, FlowRunFilterName)

    run_id = re.search(r"run (run-\S+): succeeded", default_run.stdout).group(1)
    flow_run_name = re.search(r"Flow run '([^']+)' - Finished", default_run.stdout + default_run.stderr).group(1)

    async def artifacts():  # by the flow run's name: the session's server holds every test's runs, past any limit
        async with get_client() as client:
            named = FlowRunFilter(name=FlowRunFilterName(any_=[flow_run_name]))
            runs = await client.read_flow_runs(flow_run_filter=named)
            return await client.read_artifacts(artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=["curate-summary"]),
                flow_run_id=ArtifactFilterFlowRunId(any_=[run.id for run in runs])))

    (artifact,) = [a for a in asyncio.run(artifacts()) if run_id in (a.description or "")]
    table = json.loads(artifact.data) if isinstance(artifact.data, str) else artifact.data
    assert artifact.type == "table" and {row["task_type"] for row in table} == {t.value for t in TaskType}
