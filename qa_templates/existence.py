"""Task 3, existence: is there an object of a category within a distance of a given object (yes/no).

A category is asked about only when all its instances that show in the video are objects of the facts: one seen
only too small to lift could lie within the radius."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import NOT_ENOUGH_OBJECTS, all_instances_resolved, metric_ready
from qa_templates.geometry import centre_distance
from qa_templates.options import yes_no_answer
from qa_templates.phrasing import category_name, phrase
from qa_templates.referring import reference_sets
from qa_templates.units import length_phrase, length_unit, round_significant
from schemas.facts import ObjectFact, SceneFacts
from schemas.qa import TaskType
from schemas.tiers import UNIT_PER_METRE, ScaleTier

RADIUS_NEAR_OBJECT = "radius_near_object"
"""An instance of the category lies within ±20% of the radius: the answer would hinge on small errors."""

RADIUS_MARGIN = 0.2
RADIUS_FACTOR = 1.5
"""The 'yes' radius is this many times the nearest instance's distance, the 'no' radius that distance divided by it."""
MAX_PAIRS = 2
MAX_TRIES = 8

PHRASINGS = (
    "Is there {article} {category} within {radius} of {ref}, measured centre to centre?",
    "Measuring between object centres, is any {category} less than {radius} away from {ref}?",
    "Does the scene contain {article} {category} whose centre lies within {radius} of the centre of {ref}?",
)


@register_task
class Existence(TaskTemplate):
    """object_ids: (reference,); query: category and radius_m (centre-to-centre distance, metres)."""

    task_type = TaskType.EXISTENCE

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        tier = facts.scene.scale
        frames = tuple(c.frame_index for c in facts.cameras)
        ready, unready_categories = [], set()
        for obj in facts.objects:
            if (drop := metric_ready(obj)) is not None:
                unready_categories.add(obj.category)
                yield drop
            else:
                ready.append(obj)
        for category in sorted({o.category for o in ready} - unready_categories):
            if (drop := all_instances_resolved(facts, category)) is not None:
                unready_categories.add(category)
                yield drop
        categories = sorted({o.category for o in ready} - unready_categories)
        pairs = [(ref, category) for ref in ready for category in categories
                 if _instances(facts, ref, category)]
        if not pairs:
            yield Drop(NOT_ENOUGH_OBJECTS, f"{len(ready)} metric-ready object(s), no reference/category pair")
            return
        asked = 0
        for index in rng.permutation(len(pairs))[:MAX_TRIES]:
            ref, category = pairs[index]
            distances = [centre_distance(ref, o) for o in _instances(facts, ref, category)]
            nearest = min(distances)
            for radius in (_round_radius(nearest * RADIUS_FACTOR, tier), _round_radius(nearest / RADIUS_FACTOR, tier)):
                if any(abs(d - radius) <= RADIUS_MARGIN * radius for d in distances):
                    yield Drop(RADIUS_NEAR_OBJECT, f"{category} near {ref.object_id}, radius {radius:.3g} m")
                    continue
                query = {"category": category, "radius_m": f"{radius:.6g}"}
                correct = self.solve(facts, (ref.object_id,), query)
                answer, letter = yes_no_answer(correct == "yes")
                radius_text = length_phrase(radius, tier)
                name = category_name(category)
                for refs in reference_sets(facts, [ref], rng):
                    question, phrasing = phrase(rng, PHRASINGS, article=_article(name), category=name,
                                                radius=radius_text, ref=refs.names[0])
                    rationale = (f"The nearest {name} is {length_phrase(nearest, tier)} from {refs.names[0]} "
                                 f"(centre to centre), {'within' if correct == 'yes' else 'beyond'} {radius_text}, "
                                 f"so the answer is {correct}.")
                    yield QACandidate(template_id=f"within_radius/{phrasing}",
                                      question=question,
                                      rationale=rationale, answer=answer, answer_text=letter,
                                      video_frame_numbers=frames, object_ids=(ref.object_id,), query=query,
                                      input_type=refs.input_type, visual_prompts=refs.prompts)
            asked += 1
            if asked == MAX_PAIRS:
                return

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> str:
        ref = next(o for o in facts.objects if o.object_id == object_ids[0])
        radius = float(query["radius_m"])
        found = any(centre_distance(ref, o) <= radius for o in _instances(facts, ref, query["category"]))
        return "yes" if found else "no"


def _instances(facts: SceneFacts, ref: ObjectFact, category: str) -> list[ObjectFact]:
    """Objects of the category other than the reference itself."""
    return [o for o in facts.objects if o.category == category and o.object_id != ref.object_id]


def _round_radius(radius_m: float, tier: ScaleTier) -> float:
    """A radius that reads well in the tier's unit: two significant digits, back in metres."""
    unit = length_unit(tier, radius_m)
    return round_significant(radius_m * UNIT_PER_METRE[unit], 2) / UNIT_PER_METRE[unit]


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"
