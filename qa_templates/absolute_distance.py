"""Task 6, absolute distance: how far apart two objects are (NUM).

By default the closest distance between the two objects (their boxes' nearest points, as the paper's Tab. B7 and
VSI-Bench ask it); one question in CENTRE_EVERY asks the distance between their centres, and says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import NOT_ENOUGH_OBJECTS, metric_ready, passing
from qa_templates.geometry import box_distance, centre_distance, footprint, footprint_distance, longest_dimension
from qa_templates.phrasing import phrase
from qa_templates.referring import reference_sets
from qa_templates.units import length_answer, length_phrase, unit_name
from schemas.facts import ObjectFact, SceneFacts
from schemas.qa import TaskType

SURFACES_TOO_CLOSE = "surfaces_too_close"
"""The closest distance is under SURFACE_GAP_SHARE of the larger object's longest side: a gap that small is as
uncertain as the boxes' sides themselves (and zero for objects that touch)."""

MAX_QUESTIONS = 4
CENTRE_EVERY = 4
"""Every 4th question of a scene asks centre to centre; the others ask the closest distance."""
SURFACE_GAP_SHARE = 0.5

CLOSEST_PHRASINGS = (
    "What is the closest distance between {a} and {b} (from the nearest point of one to the nearest point of the "
    "other), in {unit}?",
    "How far apart are {a} and {b} at their closest points, in {unit}?",
    "Estimate the shortest distance between the surfaces of {a} and {b}. Answer in {unit}.",
)
CENTRE_PHRASINGS = (
    "What is the distance between the centres of {a} and {b}, in {unit}?",
    "How far apart are {a} and {b}, measured centre to centre ({unit})?",
    "Estimate the straight-line distance from the centre of {a} to the centre of {b}. Answer in {unit}.",
)


@register_task
class AbsoluteDistance(TaskTemplate):
    """object_ids: (a, b); query {"between": "surfaces" | "centres"}: the closest distance between the two boxes,
    or the distance between their centres."""

    task_type = TaskType.ABSOLUTE_DISTANCE

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        tier = facts.scene.scale
        frames = tuple(c.frame_index for c in facts.cameras)
        ready, drops = passing(facts.objects, metric_ready)
        yield from drops
        pairs = list(combinations(ready, 2))
        if not pairs:
            yield Drop(NOT_ENOUGH_OBJECTS, f"{len(ready)} metric-ready object(s)")
            return
        asked = 0
        for index in rng.permutation(len(pairs)):
            if asked == MAX_QUESTIONS:
                return
            a, b = pairs[index]
            between = "centres" if asked % CENTRE_EVERY == CENTRE_EVERY - 1 else "surfaces"
            query = {"between": between}
            ids = (a.object_id, b.object_id)
            value = self.solve(facts, ids, query)
            if between == "surfaces" and value < SURFACE_GAP_SHARE * max(map(longest_dimension, (a, b))):
                yield Drop(SURFACES_TOO_CLOSE, f"{a.object_id} and {b.object_id} are {value:.4g} m apart")
                continue
            asked += 1
            answer, answer_text = length_answer(value, tier)
            horizontal, vertical = _offsets(a, b, between)
            what = "centres" if between == "centres" else "boxes"
            for refs in reference_sets(facts, [a, b], rng):
                name_a, name_b = refs.names
                phrasings = CENTRE_PHRASINGS if between == "centres" else CLOSEST_PHRASINGS
                question, phrasing = phrase(rng, phrasings, a=name_a, b=name_b, unit=unit_name(tier))
                rationale = (f"The {what} of {name_a} and {name_b} are {length_phrase(horizontal, tier)} apart "
                             f"horizontally and {length_phrase(vertical, tier)} vertically, so "
                             f"{'their centres' if between == 'centres' else 'their closest points'} are about "
                             f"{answer_text} apart.")
                yield QACandidate(template_id=f"{'centre' if between == 'centres' else 'closest'}/{phrasing}",
                                  question=question, rationale=rationale, answer=answer, answer_text=answer_text,
                                  video_frame_numbers=frames, object_ids=ids, query=query, input_type=refs.input_type,
                                  visual_prompts=refs.prompts)

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> float:
        a, b = (next(o for o in facts.objects if o.object_id == i) for i in object_ids)
        return centre_distance(a, b) if query.get("between") == "centres" else box_distance(a, b)


def _offsets(a: ObjectFact, b: ObjectFact, between: str) -> tuple[float, float]:
    """Horizontal and vertical separation of the centres, or of the boxes (footprint gap, height-range gap)."""
    if between == "centres":
        offset = np.abs(np.asarray(a.center) - np.asarray(b.center))
        return float(np.hypot(*offset[:2])), float(offset[2])
    return (footprint_distance(footprint(a), footprint(b)),
            max(0.0, a.bottom_z - b.top_z, b.bottom_z - a.top_z))
