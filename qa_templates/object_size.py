"""Task 8, object size: the longest dimension, height or footprint length of one object (NUM)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import height_resolved, metric_ready
from qa_templates.geometry import longest_dimension
from qa_templates.phrasing import phrase
from qa_templates.referring import reference_sets
from qa_templates.units import length_answer, length_phrase, unit_name
from schemas.facts import SceneFacts
from schemas.qa import TaskType

PHRASINGS = {
    "longest": ("What is the length of the longest side of {obj}, in {unit}?",
                "How long is {obj} along its longest dimension ({unit})?",
                "Measure the largest dimension of {obj}. Answer in {unit}."),
    "height": ("How tall is {obj}, in {unit}?",
               "What is the height of {obj} ({unit})?",
               "Estimate the vertical extent of {obj} in {unit}."),
}


@register_task
class ObjectSize(TaskTemplate):
    task_type = TaskType.OBJECT_SIZE

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        tier = facts.scene.scale
        frames = tuple(c.frame_index for c in facts.cameras)
        for obj in facts.objects:
            if (drop := metric_ready(obj)) is not None:
                yield drop
                continue
            dimension = ("longest", "height")[int(rng.integers(2))]
            if dimension == "height" and (drop := height_resolved(obj)) is not None:
                yield drop
                continue
            query = {"dimension": dimension}
            value = self.solve(facts, (obj.object_id,), query)
            answer, answer_text = length_answer(value, tier)
            for refs in reference_sets(facts, [obj], rng):
                question, index = phrase(rng, PHRASINGS[dimension], obj=refs.names[0], unit=unit_name(tier))
                rationale = (f"Lifting {refs.names[0]} to 3D gives a box of about "
                             + " × ".join(length_phrase(v, tier) for v in obj.size_lwh)
                             + f" (length × width × height), so its {dimension} dimension is about {answer_text}.")
                yield QACandidate(template_id=f"{dimension}/{index}", question=question, rationale=rationale,
                                  answer=answer, answer_text=answer_text, video_frame_numbers=frames,
                                  object_ids=(obj.object_id,), query=query, input_type=refs.input_type,
                                  visual_prompts=refs.prompts)

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> float:
        obj = next(o for o in facts.objects if o.object_id == object_ids[0])
        return longest_dimension(obj) if query["dimension"] == "longest" else float(obj.size_lwh[2])
