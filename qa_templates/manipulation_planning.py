"""Task 18, manipulation planning: which step sequence moves an object next to another without collisions (MC).

object_ids: (moved, target_ref); query {"relation": left_of | right_of | behind | in_front_of, "plan": JSON list of
the moved box's centre waypoints in canonical metres}. The goal pose rests beside target_ref on that side
(left/right/behind/in front as seen from the camera of frame 1: canonical −x/+x/+y/−y); both objects rest on the
table top, the lowest bottom in the scene. The plan is found by RRT-Connect (OMPL) with the other objects' boxes
as obstacles, then simplified; options describe waypoint sequences as steps. Distractors are sequences that
collide: the found plan with a corner cut or its detour mirrored, then straight moves (slide or carry straight,
or along x then y).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import NO_VALID_PLAN, metric_ready, passing
from qa_templates.motion_planning import (CONTACT_EPS_M, CONTACT_FLOOR_M, Box, c_obstacle, contact_tolerance,
                                          path_collides, plan_path)
from qa_templates.options import mc_answer
from qa_templates.phrasing import phrase
from qa_templates.referring import reference_sets
from qa_templates.units import length_phrase
from schemas.facts import ObjectFact, SceneFacts
from schemas.qa import TaskType
from schemas.tiers import TIER_SPECS, UNIT_PER_METRE, UNIT_SYMBOL, ScaleTier

DIRECT_PATH_CLEAR = "direct_path_clear"
GOAL_OCCUPIED = "goal_occupied"
NOT_ON_TABLE = "not_on_table"
"""The moved object or the target rests on another object: plans start and end on the table top only."""
NO_COLLIDING_DISTRACTOR = "no_colliding_distractor"

RELATIONS = {"left_of": ((-1.0, 0.0), "to the left of"), "right_of": ((1.0, 0.0), "to the right of"),
             "behind": ((0.0, 1.0), "behind"), "in_front_of": ((0.0, -1.0), "in front of")}
CLEARANCE_SHARE = 0.1
"""Planned paths keep 10% of the moved object's width (at least half the tier's contact floor) from every box."""
MINOR_SHARE = 0.25
"""A step's component under 25% of its main component is left out of the wording."""
MAX_QUESTIONS = 4
MAX_TRIES = 30

PHRASINGS = ("How can {moved} be moved so that it ends up {relation} {target} without hitting anything? "
             "Left, right, front and back are as seen in frame 1.",
             "Which step sequence puts {moved} {relation} {target} without bumping into any other object "
             "(directions as seen from the camera of frame 1)?",
             "Plan a collision-free way to place {moved} {relation} {target}, with left/right/front/back as seen "
             "in frame 1. Which plan works?")


@register_task
class ManipulationPlanning(TaskTemplate):
    task_type = TaskType.MANIPULATION_PLANNING

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        tier = facts.scene.scale
        frames = tuple(c.frame_index for c in facts.cameras)
        ready, drops = passing(facts.objects, metric_ready)
        yield from drops
        if len(ready) < 2:
            return
        floor_z = min(o.bottom_z for o in facts.objects)
        asked, tried = 0, set()
        for _ in range(MAX_TRIES):
            i, j = (int(k) for k in rng.choice(len(ready), 2, replace=False))
            relation = sorted(RELATIONS)[int(rng.integers(len(RELATIONS)))]
            seed = int(rng.integers(2**31 - 1))
            if asked >= MAX_QUESTIONS or (i, j, relation) in tried:
                continue
            tried.add((i, j, relation))
            moved, target = ready[i], ready[j]
            others = [o for o in facts.objects if o.object_id != moved.object_id]
            clearance = max(CLEARANCE_SHARE * moved.size_lwh[1], CONTACT_FLOOR_M[tier] / 2.0)
            start, goal = np.asarray(moved.center, dtype=float), goal_pose(moved, target, relation, clearance)
            if (drop := _placement_gate(moved, target, others, goal, floor_z, clearance, tier)) is not None:
                yield drop
                continue
            if not path_collides([start, goal], moved, others):
                yield Drop(DIRECT_PATH_CLEAR, f"{moved.object_id} slides {relation} {target.object_id} unhindered")
                continue
            plan = plan_path(start, goal, Box.of(moved), [Box.of(o) for o in others], floor_z, clearance, seed)
            if plan is None:
                yield Drop(NO_VALID_PLAN, f"{moved.object_id} {relation} {target.object_id}")
                continue
            waypoints = [[round(float(v), 7) for v in p] for p in plan]
            query = {"relation": relation, "plan": json.dumps(waypoints)}
            ids = (moved.object_id, target.object_id)
            correct = self.solve(facts, ids, query)
            carry_z = max(waypoints[1][2], waypoints[-2][2])
            look_alike = _colliding_texts(_plan_variants(np.asarray(waypoints)), moved, others, tier, {correct})
            straight = _colliding_texts(_straight_alternatives(start, goal, carry_z), moved, others, tier,
                                        {correct, *look_alike})
            if not look_alike + straight:
                yield Drop(NO_COLLIDING_DISTRACTOR, f"{moved.object_id} {relation} {target.object_id}")
                continue
            asked += 1
            pool = ([look_alike[k] for k in rng.permutation(len(look_alike))]
                    + [straight[k] for k in rng.permutation(len(straight))])
            distractors = pool[:3]
            answer, letter = mc_answer(correct, distractors,
                                       key="/".join((facts.scene.scene_id, "manipulation", *ids, relation)))
            blockers = sorted({o.category for o in others if path_collides([start, goal], moved, [o])})
            for refs in reference_sets(facts, [moved, target], rng):
                question, index = phrase(rng, PHRASINGS, moved=refs.names[0], relation=RELATIONS[relation][1],
                                         target=refs.names[1])
                rationale = (f"Moved straight, {refs.names[0]} would run into the {' and the '.join(blockers)}; "
                             f"an RRT-Connect search over its box's position, keeping "
                             f"{length_phrase(clearance, tier)} from every other box, gives: {correct}.")
                yield QACandidate(template_id=f"plan/{index}",
                                  question=question,
                                  rationale=rationale, answer=answer, answer_text=letter, frame_indices=frames,
                                  object_ids=ids, query=query, input_type=refs.input_type,
                                  visual_prompts=refs.prompts)

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> str:
        return describe_plan(json.loads(query["plan"]), facts.scene.scale)


def goal_pose(moved: ObjectFact, target: ObjectFact, relation: str, clearance: float) -> np.ndarray:
    """Centre of the moved box beside the target on the relation's side, two clearances apart, resting on the
    table top as it does now."""
    direction = np.array(RELATIONS[relation][0])
    reach = sum(float(np.max((Box.of(o).footprint() - np.array(o.center[:2])) @ direction))
                for o in (moved, target))
    xy = np.array(target.center[:2]) + direction * (reach + 2.0 * clearance)
    return np.array([xy[0], xy[1], moved.center[2]])


def describe_plan(waypoints: Sequence[Sequence[float]], tier: ScaleTier) -> str:
    """Waypoints of the moved box's centre as steps: 'Lift it about 2 cm, then move it about 30 cm to the right,
    then set it down'. Left/right is canonical x, back/front canonical y, as seen from the first keyframe."""
    unit = TIER_SPECS[tier].length_unit
    per_m, symbol = UNIT_PER_METRE[unit], UNIT_SYMBOL[unit]
    points = np.asarray(waypoints, dtype=float)
    rest_z = points[0][2]

    def amount(value: float) -> str:
        return f"{max(1, round(abs(value) * per_m))} {symbol}"

    steps = []
    for i, (p, q) in enumerate(zip(points[:-1], points[1:])):
        d = q - p
        horizontal = float(np.hypot(d[0], d[1]))
        if horizontal * per_m < 0.5 or horizontal < MINOR_SHARE * abs(d[2]):
            last = i == len(points) - 2
            steps.append(f"lift it about {amount(d[2])}" if d[2] > 0
                         else "set it down" if last else f"lower it about {amount(d[2])}")
            continue
        main = max(abs(d[0]), abs(d[1]))
        parts = [f"{amount(v)} {words[int(v < 0)]}" for v, words in
                 ((d[0], ("to the right", "to the left")), (d[1], ("farther back", "toward the front")))
                 if abs(v) == main or (abs(v) >= MINOR_SHARE * main and abs(v) * per_m >= 0.5)]
        on_rest_level = abs(p[2] - rest_z) < CONTACT_EPS_M and abs(q[2] - rest_z) < CONTACT_EPS_M
        step = f"{'slide' if on_rest_level else 'move'} it about {' and '.join(parts)}"
        if abs(d[2]) * per_m >= 0.5 and abs(d[2]) >= MINOR_SHARE * horizontal:
            step += f", {'raising' if d[2] > 0 else 'lowering'} it about {amount(d[2])}"
        steps.append(step)
    text = ", then ".join(steps)
    return text[0].upper() + text[1:]


def _placement_gate(moved: ObjectFact, target: ObjectFact, others: list[ObjectFact], goal: np.ndarray,
                    floor_z: float, clearance: float, tier: ScaleTier) -> Drop | None:
    """Both objects rest on the table top, and the goal keeps the clearance from every other box."""
    for obj in (moved, target):
        if abs(obj.bottom_z - floor_z) > contact_tolerance(obj, tier):
            return Drop(NOT_ON_TABLE, f"{obj.object_id} rests {obj.bottom_z - floor_z:.4f} m above the table")
    moved_box = Box.of(moved)
    if any(c_obstacle(Box.of(o), moved_box).value(goal) < clearance for o in others):
        return Drop(GOAL_OCCUPIED, f"the spot beside {target.object_id} is taken")
    return None


def _colliding_texts(paths: list, moved: ObjectFact, others: list[ObjectFact], tier: ScaleTier,
                     exclude: set[str]) -> list[str]:
    """Descriptions of the paths that collide, once each, leaving out those in `exclude`."""
    texts = (describe_plan(path, tier) for path in paths if path_collides(path, moved, others))
    return [text for text in dict.fromkeys(texts) if text not in exclude]


def _plan_variants(waypoints: np.ndarray) -> list[np.ndarray]:
    """Plans that look like the found one: each with one corner cut (a transit waypoint left out, which the
    simplifier kept for a reason), and the detour mirrored to the other side of the straight line."""
    start, goal = waypoints[0], waypoints[-1]
    cut = [np.delete(waypoints, k, axis=0) for k in range(2, len(waypoints) - 2)]
    line = goal[:2] - start[:2]
    normal = np.array([-line[1], line[0]]) / max(float(np.linalg.norm(line)), 1e-12)
    mirrored = waypoints.copy()
    offsets = (mirrored[2:-2, :2] - start[:2]) @ normal
    mirrored[2:-2, :2] -= 2.0 * offsets[:, None] * normal
    return cut + ([mirrored] if len(waypoints) > 4 else [])


def _straight_alternatives(start: np.ndarray, goal: np.ndarray, carry_z: float) -> list[list[np.ndarray]]:
    """Plans made of straight moves (start and goal rest at the same height): slide straight, slide along x then
    y (or y then x), and the same lifted to the plan's carrying height. Zero-length moves are removed."""
    s, g = start, goal
    lift, land = np.array([s[0], s[1], carry_z]), np.array([g[0], g[1], carry_z])
    paths = [[s, lift, land, g],
             [s, lift, np.array([g[0], s[1], carry_z]), land, g],
             [s, lift, np.array([s[0], g[1], carry_z]), land, g],
             [s, g], [s, np.array([g[0], s[1], s[2]]), g], [s, np.array([s[0], g[1], s[2]]), g]]
    return [[p for k, p in enumerate(path) if k == 0 or np.linalg.norm(p - path[k - 1]) > CONTACT_EPS_M]
            for path in paths]
