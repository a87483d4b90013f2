"""Answer balance: no correct option answers more than 40% of a task's rows in a scene (60% for yes/no), answers
sit at every letter in turn, spatial-relation distractors are plausible for the pair, and the report shows the
distribution per task and tier."""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np

from qa_templates.generate import generate_scene_qa
from qa_templates.options import ONE_SIDED_ANSWERS, answer_share_limit, balanced_pick
from qa_templates.spatial_relation import FAR, SpatialRelation
from report.data import ChoiceBalance
from report.html import _balance_table
from schemas.tiers import ScaleTier
from tests.builders import orbit_track, scene_facts, tabletop_facts
from tests.test_qa_manipulation_wording import scaled_scene
from tests.test_qa_reasoning_tasks import run


def test_balanced_pick_caps_every_answer_at_40_percent_of_the_rows():
    rng = np.random.default_rng(0)
    assert balanced_pick(list(range(9)), ["far"] * 9, [1] * 9, 5, rng) == []
    two = balanced_pick(list(range(6)), ["far"] * 3 + ["near"] * 3, [1] * 6, 5, rng)  # two answers: half each
    assert len(two) == 4 and sum(i < 3 for i in two) == 2
    answers = ["far"] * 8 + ["near"] * 3 + ["next to"]
    picked = balanced_pick(list(range(12)), answers, [1] * 12, 5, rng)
    counts = Counter(answers[i] for i in picked)
    assert len(picked) == 5 and max(counts.values()) == 2
    weighted = balanced_pick(list(range(3)), ["a", "b", "c"], [2, 1, 1], 3, rng)  # 'a' yields 2 rows of 4
    assert len(weighted) < 3


def test_far_apart_buildings_are_not_asked_with_stacking_distractors():
    """Old behaviour: every pair of a street's buildings was 'not touching', offered with 'supporting'."""
    buildings = [("building", (150.0 * k, 40.0 * (k % 2), 8.0), (20.0, 12.0, 16.0), 0.0) for k in range(4)]
    facts = scene_facts(ScaleTier.OUTDOOR, buildings, orbit_track(radius=500.0, height=200.0, target=(225, 20, 0)))
    rows, drops = run(SpatialRelation(), facts)
    assert not rows and drops[ONE_SIDED_ANSWERS] == 1
    assert SpatialRelation().solve(facts, ("scene/1", "scene/2"), {}) == FAR


def test_generated_qa_keeps_every_answer_under_its_share_and_letters_in_turn():
    scenes = [tabletop_facts(), scaled_scene(ScaleTier.TABLETOP, 1.0), scaled_scene(ScaleTier.TINY_TABLETOP, 0.1)]
    answers, letters = defaultdict(Counter), defaultdict(list)
    for k, facts in enumerate(scenes):
        for row in generate_scene_qa(facts, "balance").rows:
            if row.answer.kind != "multiple_choice":
                continue
            answers[(row.task_type.value, facts.scene.scale.value)][row.answer.correct_option] += 1
            if row.answer.options != ["yes", "no"]:
                letters[(k, row.task_type.value)].append(
                    (row.answer.correct_letter, len(row.answer.options)))
    assert len(answers) >= 8
    for key, counts in answers.items():
        top, n_top = counts.most_common(1)[0]
        assert n_top <= answer_share_limit(top, len(counts)) * sum(counts.values()) + 1e-9, (key, counts)
    for key, placed in letters.items():  # each next question of a scene's task moves to the next letter
        for (prev, n_before), (letter, n_options) in zip(placed, placed[1:]):
            assert "ABCDE".index(letter) == ("ABCDE".index(prev) + 1) % n_options or n_options != n_before, key


def test_the_report_flags_an_answer_over_its_share():
    table = _balance_table(type("Data", (), {"choice_balance": [
        ChoiceBalance("spatial_relation", "outdoor", 10, 3, "far from", 0.8, {"A": 4, "B": 6}),
        ChoiceBalance("view_change", "indoor", 10, 2, "turned left", 0.5, {"A": 5, "B": 5}),
        ChoiceBalance("existence", "drone", 10, 2, "no", 0.6, {"A": 4, "B": 6})]})())
    assert table.count('class=over') == 1 and "far from" in table and "80%" in table and "A 4 B 6" in table
