"""Manipulation planning options read literally: each option's words, executed step by step with exactly the
amounts they say against the scene's exact boxes (tests/ground_truth.py, not the planner's geometry), leave one
way, the correct one, to the goal without a collision; every distractor runs at least the tier's margin into a
box. The scenes are a tabletop and the same layout at a tenth of the size (a tiny tabletop, in millimetres)."""

from __future__ import annotations

import numpy as np
import pytest

from qa_templates.manipulation_planning import (DISTRACTOR_MARGIN_M, MAX_STEPS, RELATIONS, ManipulationPlanning,
                                                describe_plan)
from schemas.annotations import OrientedBox
from schemas.facts import ObjectFact, SceneFacts
from schemas.tiers import ScaleTier
from tests.builders import orbit_track, scene_facts
from tests.ground_truth import box_frame, execute_plan_text, overlap_depth, sweep_depth
from tests.test_qa_reasoning_tasks import run

LAYOUT = [  # a row of blocks between cups, a stack, a low tray: many plans have to go round or over something
    ("cup", (-0.30, 0.00, 0.05), (0.08, 0.08, 0.10), 0.0),
    ("box", (0.00, 0.02, 0.075), (0.12, 0.20, 0.15), 0.0),
    ("bottle", (0.30, 0.00, 0.12), (0.07, 0.07, 0.24), 0.0),
    ("bowl", (0.00, 0.35, 0.035), (0.16, 0.16, 0.07), 0.0),
    ("book", (0.00, 0.02, 0.165), (0.22, 0.15, 0.03), 90.0),
    ("phone", (-0.30, -0.30, 0.004), (0.15, 0.07, 0.008), 30.0),
    ("mug", (0.30, -0.30, 0.05), (0.08, 0.08, 0.10), 0.0),
    ("tin", (0.15, -0.12, 0.05), (0.08, 0.08, 0.10), 15.0),
    ("jar", (-0.15, 0.18, 0.06), (0.09, 0.09, 0.12), 0.0),
    ("tray", (-0.18, -0.12, 0.01), (0.16, 0.10, 0.02), -20.0),
]


def scaled_scene(tier: ScaleTier, factor: float) -> SceneFacts:
    objects = [(c, tuple(np.multiply(ctr, factor)), tuple(np.multiply(s, factor)), y) for c, ctr, s, y in LAYOUT]
    return scene_facts(tier, objects, orbit_track(radius=1.0 * factor, height=0.9 * factor))


def as_box(obj: ObjectFact) -> OrientedBox:
    return OrientedBox(center=obj.center, size=obj.size_lwh, yaw_deg=obj.yaw_deg)


def ends_beside(end: np.ndarray, moved: ObjectFact, target: ObjectFact, relation: str) -> bool:
    """Resting at its starting height, on the relation's side of the target, clear of it."""
    direction = np.array([*RELATIONS[relation][0], 0.0])
    offset = end - np.asarray(target.center)
    frame = box_frame(OrientedBox(center=tuple(end), size=moved.size_lwh, yaw_deg=moved.yaw_deg))
    return (abs(end[2] - moved.center[2]) < 1e-9 and offset @ direction > 0
            and abs(offset @ np.array([direction[1], direction[0], 0.0])) < max(target.size_lwh[:2])
            and overlap_depth(frame, box_frame(as_box(target))) <= 1e-9)


@pytest.mark.parametrize("tier, factor", [(ScaleTier.TABLETOP, 1.0), (ScaleTier.TINY_TABLETOP, 0.1)])
def test_exactly_one_option_as_worded_reaches_the_goal_without_collision(tier, factor):
    facts = scaled_scene(tier, factor)
    rows, _ = run(ManipulationPlanning(), facts)
    assert len(rows) >= 3
    objects = {o.object_id: o for o in facts.objects}
    margin = DISTRACTOR_MARGIN_M[tier]
    for row in rows:
        moved, target = (objects[i] for i in row.object_ids)
        obstacles = [as_box(o) for o in facts.objects if o is not moved]
        valid = []
        for letter, option in zip("ABCDE", row.answer.options):
            path = execute_plan_text(option, moved.center)
            assert len(path) - 1 <= MAX_STEPS, option
            depth = sweep_depth(path, as_box(moved), obstacles, step_m=margin / 8)
            reaches = ends_beside(path[-1], moved, target, row.query["relation"])
            if reaches and depth <= 1e-6:
                valid.append(letter)
            else:
                assert depth >= margin * 0.9 or not reaches, (option, depth)
        assert valid == [row.answer.correct_letter], (row.question, valid)


def test_every_component_of_a_move_is_worded():
    """A 4 mm sideways part of a 20 mm move was left out before (under 25% of the main part)."""
    assert describe_plan([(0.0, 0.0, 0.001), (-0.004, -0.02, 0.001)], ScaleTier.TINY_TABLETOP) == \
        "Slide it about 4 mm to the left and 20 mm toward the front"
    lifted = [(0.0, 0.0, 0.05), (0.0, 0.0, 0.07), (0.55, 0.0, 0.07), (0.55, 0.0, 0.05)]
    assert describe_plan(lifted, ScaleTier.TABLETOP) == \
        "Lift it about 2 cm, then move it about 55 cm to the right, then set it down"
    carried_down = [(0.0, 0.0, 0.05), (0.0, 0.0, 0.16), (0.55, 0.0, 0.05)]
    assert describe_plan(carried_down, ScaleTier.TABLETOP) == \
        "Lift it about 11 cm, then move it about 55 cm to the right, lowering it about 11 cm"
