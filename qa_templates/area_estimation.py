"""Task 17, area estimation: footprint area of a field, pond or building roof seen from the air (NUM, m²).

object_ids: (a,); query {"kind": "roof" for buildings, "area" for ground regions} (phrasing only; the value is
always the footprint area, length × width). Only flat regions and buildings are asked about: the footprint of a
tree crown or a vehicle is not an area one reads off an aerial view.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import metric_ready
from qa_templates.geometry import footprint_area
from qa_templates.phrasing import phrase
from qa_templates.referring import reference_sets
from qa_templates.units import length_phrase, quantity_answer
from schemas.facts import SceneFacts
from schemas.qa import TaskType
from schemas.tiers import DisplayUnit

ROOFED = ("building", "house", "roof", "warehouse", "barn", "shed", "hangar", "stadium", "church", "factory")
REGIONS = ("field", "pond", "lake", "pool", "parking", "lawn", "court", "pitch", "farmland", "meadow", "plaza")
MAX_OBJECTS = 6

PHRASINGS = {
    "area": ("Seen from above, how much ground does {obj} cover, in square metres?",
             "What is the area of {obj} in m²?",
             "Estimate the surface area of {obj} as seen from the air (m²)."),
    "roof": ("What is the roof area of {obj}, in square metres?",
             "Seen from the drone, how large is the roof of {obj} (m²)?",
             "Estimate the area {obj} covers from above, roof outline included, in m²."),
}


@register_task
class AreaEstimation(TaskTemplate):
    task_type = TaskType.AREA_ESTIMATION

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        tier = facts.scene.scale
        frames = tuple(c.frame_index for c in facts.cameras)
        ready = []
        for obj in facts.objects:
            if _kind(obj.category) is None:
                continue
            if (drop := metric_ready(obj)) is not None:
                yield drop
            else:
                ready.append(obj)
        for i in rng.permutation(len(ready))[:MAX_OBJECTS]:
            obj = ready[int(i)]
            kind = _kind(obj.category)
            query = {"kind": kind}
            value = self.solve(facts, (obj.object_id,), query)
            answer, answer_text = quantity_answer(value, DisplayUnit.M2)
            for refs in reference_sets(facts, [obj], rng):
                question, index = phrase(rng, PHRASINGS[kind], obj=refs.names[0])
                rationale = (f"From above, {refs.names[0]} has an outline of about "
                             f"{length_phrase(obj.size_lwh[0], tier)} × {length_phrase(obj.size_lwh[1], tier)}, "
                             f"so it covers about {answer_text}.")
                yield QACandidate(template_id=f"{kind}/{index}", question=question, rationale=rationale,
                                  answer=answer, answer_text=answer_text, video_frame_numbers=frames,
                                  object_ids=(obj.object_id,), query=query, input_type=refs.input_type,
                                  visual_prompts=refs.prompts)

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> float:
        return footprint_area(next(o for o in facts.objects if o.object_id == object_ids[0]))


def _kind(category: str) -> str | None:
    """'roof' for buildings, 'area' for flat ground regions, None for anything else."""
    name = category.lower()
    if any(word in name for word in ROOFED):
        return "roof"
    return "area" if any(word in name for word in REGIONS) else None
