"""Task 18, manipulation planning: which step sequence moves an object next to another without collisions (MC).

object_ids: (moved, target_ref); query {"relation": left_of | right_of | behind | in_front_of, "plan": JSON list of
the moved box's centre waypoints in canonical metres, exactly as the correct option words them}. The goal pose rests
beside target_ref on that side (left/right/behind/in front as seen from the camera of frame 1: canonical
−x/+x/+y/−y); both objects rest on the table top, the lowest bottom in the scene. The plan is found by RRT-Connect
(OMPL) with the other objects' boxes and the bounds of every instance that shows but is not an object (too small
to lift: gates.sighted_obstacles) as obstacles, then simplified. Every option is worded from waypoints rounded to
whole display units (every component of a move is said, none left out) and checked as worded: the correct one,
executed literally, reaches the goal without collision, clear of those bounds too; each distractor (the found plan
with a corner cut or its detour mirrored, then straight moves: slide or carry straight, or along x then y),
executed literally, runs at least DISTRACTOR_MARGIN_M deep into an object's box (never judged by bounds alone,
which may hold empty space).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import NO_VALID_PLAN, metric_ready, passing, sighted_obstacles
from qa_templates.motion_planning import (CONTACT_FLOOR_M, Box, c_obstacle, contact_tolerance, path_blockers,
                                          path_clearance, path_collides, plan_path)
from qa_templates.options import mc_answer
from qa_templates.phrasing import category_name, phrase
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
WORDED_PLAN_COLLIDES = "worded_plan_collides"
"""The found plan, rounded to whole display units as the option words it, would touch a box."""
PLAN_TOO_LONG = "plan_too_long"
"""The found plan takes more than MAX_STEPS worded steps (options would be paragraphs)."""

RELATIONS = {"left_of": ((-1.0, 0.0), "to the left of"), "right_of": ((1.0, 0.0), "to the right of"),
             "behind": ((0.0, 1.0), "behind"), "in_front_of": ((0.0, -1.0), "in front of")}
CLEARANCE_SHARE = 0.1
"""Planned paths keep 10% of the moved object's width (at least half the tier's contact floor) from every box."""
DISTRACTOR_MARGIN_M = {tier: 3.0 * floor for tier, floor in CONTACT_FLOOR_M.items()}
"""A distractor, executed as worded, must run this deep into a box (3 mm on tiny tabletops, 3 cm on tabletops):
more than the drift of reading each of up to MAX_STEPS rounded amounts half a unit off."""
MAX_STEPS = 5
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
        sighted = sighted_obstacles(facts)
        if isinstance(sighted, Drop):
            yield sighted
            return
        boxes = {o.object_id: Box.of(o) for o in facts.objects}
        unlifted = [Box.of(s.bounds) for s in sighted]
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
            moved_box = boxes[moved.object_id]
            others = [o for o in facts.objects if o.object_id != moved.object_id]
            other_boxes = [boxes[o.object_id] for o in others]
            avoid = [*other_boxes, *unlifted]
            clearance = max(CLEARANCE_SHARE * moved.size_lwh[1], CONTACT_FLOOR_M[tier] / 2.0)
            start, goal = np.asarray(moved.center, dtype=float), goal_pose(moved, target, relation, clearance)
            if (drop := _placement_gate(moved, target, avoid, goal, floor_z, clearance, tier)) is not None:
                yield drop
                continue
            blocking = path_blockers([start, goal], moved_box, avoid)
            if not blocking:
                yield Drop(DIRECT_PATH_CLEAR, f"{moved.object_id} slides {relation} {target.object_id} unhindered")
                continue
            plan = plan_path(start, goal, moved_box, avoid, floor_z, clearance, seed)
            if plan is None:
                yield Drop(NO_VALID_PLAN, f"{moved.object_id} {relation} {target.object_id}")
                continue
            worded = worded_path(plan, tier)
            if len(worded) - 1 > MAX_STEPS:
                yield Drop(PLAN_TOO_LONG, f"{moved.object_id} {relation} {target.object_id}: {len(worded) - 1} steps")
                continue
            if path_collides(worded, moved_box, avoid):
                yield Drop(WORDED_PLAN_COLLIDES, f"{moved.object_id} {relation} {target.object_id}")
                continue
            query = {"relation": relation, "plan": json.dumps([[round(float(v), 7) for v in p] for p in worded])}
            ids = (moved.object_id, target.object_id)
            correct = self.solve(facts, ids, query)
            carry_z = max(worded[1][2], worded[-2][2])
            variants = _plan_variants(np.asarray(plan)), _straight_alternatives(start, goal, carry_z)
            look_alike, straight = (_colliding_texts(paths, moved_box, other_boxes, tier) for paths in variants)
            straight = [text for text in straight if text not in look_alike]
            if not look_alike + straight:
                yield Drop(NO_COLLIDING_DISTRACTOR, f"{moved.object_id} {relation} {target.object_id}")
                continue
            asked += 1
            pool = ([look_alike[k] for k in rng.permutation(len(look_alike))]
                    + [straight[k] for k in rng.permutation(len(straight))])
            distractors = [text for text in pool if text != correct][:3]
            answer, letter = mc_answer(correct, distractors)
            in_the_way = [*others, *sighted]  # in the order of `avoid`
            blockers = sorted({category_name(in_the_way[k].category) for k in blocking})
            for refs in reference_sets(facts, [moved, target], rng):
                question, index = phrase(rng, PHRASINGS, moved=refs.names[0], relation=RELATIONS[relation][1],
                                         target=refs.names[1])
                rationale = (f"Moved straight, {refs.names[0]} would run into the {' and the '.join(blockers)}; "
                             f"an RRT-Connect search over its box's position, keeping "
                             f"{length_phrase(clearance, tier)} from every other box, gives: {correct}.")
                yield QACandidate(template_id=f"plan/{index}",
                                  question=question,
                                  rationale=rationale, answer=answer, answer_text=letter, video_frame_numbers=frames,
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


def worded_path(waypoints: Sequence[Sequence[float]], tier: ScaleTier) -> list[np.ndarray]:
    """The path an option's words describe: every waypoint's offset from the start rounded to whole display units
    (so the steps, said in whole units, add up to it exactly), repeated waypoints removed."""
    per_m = UNIT_PER_METRE[TIER_SPECS[tier].length_unit]
    points = np.asarray(waypoints, dtype=float)
    start = points[0]
    path = [start]
    for point in start + np.round((points[1:] - start) * per_m) / per_m:
        if np.any(np.abs(point - path[-1]) * per_m >= 0.5):
            path.append(point)
    return path


def describe_plan(waypoints: Sequence[Sequence[float]], tier: ScaleTier) -> str:
    """Waypoints of the moved box's centre, rounded as `worded_path` does, as steps: 'Lift it about 2 cm, then
    move it about 30 cm to the right and 4 cm farther back, then set it down'. Left/right is canonical x,
    back/front canonical y, as seen from the first keyframe; every non-zero component of a move is said, and a
    last move straight down to the starting height is 'set it down'."""
    return _steps_text(worded_path(waypoints, tier), tier)


def _steps_text(points: list[np.ndarray], tier: ScaleTier) -> str:
    """`describe_plan` of a path already rounded by `worded_path`."""
    unit = TIER_SPECS[tier].length_unit
    per_m, symbol = UNIT_PER_METRE[unit], UNIT_SYMBOL[unit]
    units = [np.round((q - p) * per_m).astype(int) for p, q in zip(points[:-1], points[1:])]

    def amount(value: int) -> str:
        return f"{abs(value)} {symbol}"

    steps, height = [], 0
    for i, (dx, dy, dz) in enumerate(units):
        if dx == dy == 0:
            last = i == len(units) - 1
            steps.append(f"lift it about {amount(dz)}" if dz > 0
                         else "set it down" if last and height + dz == 0 else f"lower it about {amount(dz)}")
        else:
            parts = [f"{amount(v)} {words[int(v < 0)]}" for v, words in
                     ((dx, ("to the right", "to the left")), (dy, ("farther back", "toward the front"))) if v]
            verb = "slide" if height == 0 and dz == 0 else "move"
            step = f"{verb} it about {' and '.join(parts)}"
            if dz:
                step += f", {'raising' if dz > 0 else 'lowering'} it about {amount(dz)}"
            steps.append(step)
        height += dz
    text = ", then ".join(steps)
    return text[0].upper() + text[1:]


def _placement_gate(moved: ObjectFact, target: ObjectFact, others: list[Box], goal: np.ndarray,
                    floor_z: float, clearance: float, tier: ScaleTier) -> Drop | None:
    """Both objects rest on the table top, and the goal keeps the clearance from every other box (objects and
    sighted bounds)."""
    for obj in (moved, target):
        if abs(obj.bottom_z - floor_z) > contact_tolerance(obj, tier):
            return Drop(NOT_ON_TABLE, f"{obj.object_id} rests {obj.bottom_z - floor_z:.4f} m above the table")
    moved_box = Box.of(moved)
    if any(c_obstacle(o, moved_box).value(goal) < clearance for o in others):
        return Drop(GOAL_OCCUPIED, f"the spot beside {target.object_id} is taken")
    return None


def _colliding_texts(paths: list, moved: Box, others: list[Box], tier: ScaleTier) -> list[str]:
    """Descriptions of the paths that, executed as worded, run at least the tier's margin deep into a box and
    take at most MAX_STEPS steps, once each."""
    worded = (worded_path(path, tier) for path in paths)
    texts = (_steps_text(steps, tier) for steps in worded
             if len(steps) - 1 <= MAX_STEPS and path_clearance(steps, moved, others) <= -DISTRACTOR_MARGIN_M[tier])
    return list(dict.fromkeys(texts))


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
    y (or y then x), and the same lifted to the plan's carrying height."""
    s, g = start, goal
    lift, land = np.array([s[0], s[1], carry_z]), np.array([g[0], g[1], carry_z])
    return [[s, lift, land, g],
            [s, lift, np.array([g[0], s[1], carry_z]), land, g],
            [s, lift, np.array([s[0], g[1], carry_z]), land, g],
            [s, g], [s, np.array([g[0], s[1], s[2]]), g], [s, np.array([s[0], g[1], s[2]]), g]]
