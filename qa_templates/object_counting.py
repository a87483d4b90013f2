"""Task 4, object counting: how many distinct instances of a category appear across the video (NUM).

Asked only when every instance of the category that shows at all (pixel-level sightings over every frame whose
masks are known) is an object of the facts: one that only ever shows small would make the count a guess."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import all_instances_resolved, count_in_range, seen_enough
from qa_templates.phrasing import category_name, phrase
from qa_templates.units import quantity_answer
from schemas.facts import SceneFacts
from schemas.qa import TaskType
from schemas.tiers import DisplayUnit

MAX_QUESTIONS = 6

PHRASINGS = (
    "How many {plural} appear in this video?",
    "Counting each distinct instance once, how many {plural} are there in the scene?",
    "Across all the frames, how many different {plural} can be seen?",
)


@register_task
class ObjectCounting(TaskTemplate):
    """object_ids: every counted instance; query: category."""

    task_type = TaskType.OBJECT_COUNTING

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        frames = tuple(c.frame_index for c in facts.cameras)
        categories = sorted({o.category for o in facts.objects})
        for index in rng.permutation(len(categories))[:MAX_QUESTIONS]:
            category = categories[int(index)]
            instances = [o for o in facts.objects if o.category == category]
            if (drop := all_instances_resolved(facts, category) or count_in_range(len(instances))) is not None:
                yield drop
                continue
            if (drop := next((d for o in instances if (d := seen_enough(o)) is not None), None)) is not None:
                yield drop
                continue
            query = {"category": category}
            value = self.solve(facts, (), query)
            answer, answer_text = quantity_answer(value, DisplayUnit.COUNT)
            name = category_name(category)
            plural = _plural(name)
            question, phrasing = phrase(rng, PHRASINGS, plural=plural)
            rationale = (f"Following each {name} across the keyframes and merging repeated sightings of the same "
                         f"instance leaves {answer_text} distinct {plural}.")
            yield QACandidate(template_id=f"count/{phrasing}", question=question, rationale=rationale,
                              answer=answer, answer_text=answer_text, video_frame_numbers=frames,
                              object_ids=tuple(o.object_id for o in instances), query=query)

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> float:
        return float(sum(o.category == query["category"] for o in facts.objects))


def _plural(noun: str) -> str:
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"
