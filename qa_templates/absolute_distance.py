"""Task 6, absolute distance: the centre-to-centre distance between two objects (NUM)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import NOT_ENOUGH_OBJECTS, metric_ready, passing
from qa_templates.geometry import centre_distance
from qa_templates.phrasing import phrase
from qa_templates.referring import reference_sets
from qa_templates.units import length_answer, length_phrase, unit_name
from schemas.facts import SceneFacts
from schemas.qa import TaskType

MAX_QUESTIONS = 4

PHRASINGS = (
    "What is the distance between the centres of {a} and {b}, in {unit}?",
    "How far apart are {a} and {b}, measured centre to centre ({unit})?",
    "Estimate the straight-line distance from the centre of {a} to the centre of {b}. Answer in {unit}.",
)


@register_task
class AbsoluteDistance(TaskTemplate):
    """object_ids: (a, b); query: none (the distance is between the two box centres)."""

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
        for index in rng.permutation(len(pairs))[:MAX_QUESTIONS]:
            a, b = pairs[index]
            ids = (a.object_id, b.object_id)
            value = self.solve(facts, ids, {})
            answer, answer_text = length_answer(value, tier)
            offset = np.abs(np.asarray(a.center) - np.asarray(b.center))
            horizontal, vertical = float(np.hypot(*offset[:2])), float(offset[2])
            for refs in reference_sets(facts, [a, b], rng):
                name_a, name_b = refs.names
                question, phrasing = phrase(rng, PHRASINGS, a=name_a, b=name_b, unit=unit_name(tier))
                rationale = (f"The centres of {name_a} and {name_b} are {length_phrase(horizontal, tier)} apart "
                             f"horizontally and {length_phrase(vertical, tier)} vertically, so they are about "
                             f"{answer_text} apart.")
                yield QACandidate(template_id=f"centre/{phrasing}", question=question, rationale=rationale,
                                  answer=answer, answer_text=answer_text, frame_indices=frames, object_ids=ids,
                                  input_type=refs.input_type, visual_prompts=refs.prompts)

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> float:
        a, b = (next(o for o in facts.objects if o.object_id == i) for i in object_ids)
        return centre_distance(a, b)
