"""Task 11, route planning: standing at one object facing another, which turn-and-go route reaches a goal (MC).

object_ids: (start, facing, goal). The route turns by the signed angle between the start→facing heading and the
start→goal bearing, quantized to 45° steps, then goes the start→goal distance (rounded to a 1-1.5-2-3-4-5-6-8
step in the tier's unit). Drone routes fly, indoor routes walk.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import metric_ready, passing
from qa_templates.options import mc_answer
from qa_templates.phrasing import phrase
from qa_templates.referring import reference_sets
from qa_templates.units import length_phrase, length_unit
from schemas.facts import ObjectFact, SceneFacts
from schemas.qa import TaskType
from schemas.tiers import UNIT_PER_METRE, UNIT_SYMBOL, ScaleTier

NEAR_TURN_BOUNDARY = "near_turn_boundary"
NEAR_DISTANCE_ROUNDING = "near_distance_rounding"
TOO_CLOSE = "too_close"

TURN_STEP_DEG = 45.0
TURN_MARGIN_DEG = 10.0
NICE_STEPS = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
DISTANCE_MARGIN = 0.03
"""Drop when the distance is within 3% of the midpoint between two rounding steps."""
MAX_QUESTIONS = 5
MAX_TRIES = 60

PHRASINGS = {
    ScaleTier.INDOOR: ("Standing at {start} and facing {facing}, which route reaches {goal}?",
                       "You are at {start}, looking towards {facing}. How do you get to {goal}?",
                       "Imagine you stand next to {start} facing {facing}. Which sequence of actions takes you "
                       "to {goal}?"),
    ScaleTier.DRONE: ("Hovering above {start} and heading towards {facing}, which route reaches {goal}?",
                      "A drone is above {start}, nose pointing at {facing}. How should it fly to reach {goal}?",
                      "Flying over {start} with {facing} straight ahead, which sequence of manoeuvres brings you "
                      "to {goal}?"),
}
VERB = {ScaleTier.INDOOR: "walk", ScaleTier.DRONE: "fly"}


@register_task
class RoutePlanning(TaskTemplate):
    task_type = TaskType.ROUTE_PLANNING

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        tier = facts.scene.scale
        frames = tuple(c.frame_index for c in facts.cameras)
        ready, drops = passing(facts.objects, metric_ready)
        yield from drops
        if len(ready) < 3:
            return
        asked, tried = 0, set()
        for _ in range(MAX_TRIES):
            triple = tuple(int(i) for i in rng.choice(len(ready), 3, replace=False))
            if asked >= MAX_QUESTIONS or triple in tried:
                continue
            tried.add(triple)
            start, facing, goal = (ready[i] for i in triple)
            if (drop := _gate(start, facing, goal, tier)) is not None:
                yield drop
                continue
            asked += 1
            ids = (start.object_id, facing.object_id, goal.object_id)
            correct = self.solve(facts, ids, {})
            turn, distance = _turn_deg(start, facing, goal), _distance(start, goal)
            quantized = _quantize_turn(turn)
            choices = [_route(t, distance, tier) for t in _distractor_turns(quantized)]
            choices.append(_route(quantized, 2.0 * distance, tier))
            distractors = [choices[i] for i in rng.permutation(len(choices))[:3]]
            answer, letter = mc_answer(correct, distractors)
            for refs in reference_sets(facts, [start, facing, goal], rng):
                s, f, g = refs.names
                question, index = phrase(rng, PHRASINGS[tier], start=s, facing=f, goal=g)
                side = "straight ahead" if abs(turn) < 0.5 else f"{abs(turn):.0f}° to the {_side(turn)}"
                rationale = (f"From {s}, with {f} ahead, {g} lies {side} at about {length_phrase(distance, tier)}, "
                             f"so the route is: {correct}.")
                yield QACandidate(template_id=f"route/{index}",
                                  question=question,
                                  rationale=rationale, answer=answer, answer_text=letter, video_frame_numbers=frames,
                                  object_ids=ids, query={}, input_type=refs.input_type, visual_prompts=refs.prompts)

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> str:
        by_id = {o.object_id: o for o in facts.objects}
        start, facing, goal = (by_id[i] for i in object_ids)
        tier = facts.scene.scale
        return _route(_quantize_turn(_turn_deg(start, facing, goal)), _distance(start, goal), tier)


def _gate(start: ObjectFact, facing: ObjectFact, goal: ObjectFact, tier: ScaleTier) -> Drop | None:
    for other in (facing, goal):
        if _distance(start, other) < (_reach(start) + _reach(other)):
            return Drop(TOO_CLOSE, f"{start.object_id} and {other.object_id} nearly touch")
    turn = _turn_deg(start, facing, goal)
    offset = abs((turn - TURN_STEP_DEG / 2.0) % TURN_STEP_DEG - TURN_STEP_DEG / 2.0)
    if TURN_STEP_DEG / 2.0 - offset < TURN_MARGIN_DEG:
        return Drop(NEAR_TURN_BOUNDARY, f"turn {turn:.1f}°")
    if _near_rounding(_distance(start, goal), tier):
        return Drop(NEAR_DISTANCE_ROUNDING, f"distance {_distance(start, goal):.3f} m")
    return None


def _reach(obj: ObjectFact) -> float:
    """Half the footprint diagonal: how far the object extends from its centre."""
    return float(np.hypot(obj.size_lwh[0], obj.size_lwh[1])) / 2.0


def _distance(a: ObjectFact, b: ObjectFact) -> float:
    return float(np.hypot(b.center[0] - a.center[0], b.center[1] - a.center[1]))


def _turn_deg(start: ObjectFact, facing: ObjectFact, goal: ObjectFact) -> float:
    """Signed angle from the start→facing heading to the start→goal bearing (positive = left)."""
    heading = np.subtract(facing.center[:2], start.center[:2])
    bearing = np.subtract(goal.center[:2], start.center[:2])
    return float(np.degrees(np.arctan2(heading[0] * bearing[1] - heading[1] * bearing[0], heading @ bearing)))


def _quantize_turn(turn: float) -> int:
    quantized = int(round(turn / TURN_STEP_DEG) * TURN_STEP_DEG)
    return 180 if abs(quantized) == 180 else quantized


def _distractor_turns(turn: int) -> list[int]:
    """The mirrored turn and the neighbouring 45° steps, wrapped to (−180, 180]."""
    wrapped = [(t + 180) % 360 - 180 for t in (-turn, turn + 45, turn - 45)]
    return [t for t in dict.fromkeys(180 if t == -180 else t for t in wrapped) if t != turn]


def _side(turn: float) -> str:
    return "left" if turn > 0 else "right"


def _route(turn: int, distance_m: float, tier: ScaleTier) -> str:
    go = f"{VERB[tier]} about {_nice(distance_m, tier)}"
    if turn == 0:
        return f"{VERB[tier]} straight ahead about {_nice(distance_m, tier)}"
    if turn == 180:
        return f"turn around and {go}"
    return f"turn {_side(turn)} about {abs(turn)}° and {go}"


def _mantissa(value_m: float, tier: ScaleTier) -> tuple[float, float]:
    shown = value_m * UNIT_PER_METRE[length_unit(tier, value_m)]
    scale = 10.0 ** math.floor(math.log10(shown))
    return shown / scale, scale


def _nice(value_m: float, tier: ScaleTier) -> str:
    """'3 m': the distance in the tier's display unit, rounded (in log space) to a 1-1.5-2-3-4-5-6-8 step."""
    mantissa, scale = _mantissa(value_m, tier)
    step = min(NICE_STEPS, key=lambda s: abs(math.log(mantissa / s)))
    return f"{step * scale:.6g} {UNIT_SYMBOL[length_unit(tier, value_m)]}"


def _near_rounding(value_m: float, tier: ScaleTier) -> bool:
    mantissa, _ = _mantissa(value_m, tier)
    boundaries = [math.sqrt(a * b) for a, b in zip(NICE_STEPS[:-1], NICE_STEPS[1:])]
    return any(abs(math.log(mantissa / b)) < math.log(1.0 + DISTANCE_MARGIN) for b in boundaries)
