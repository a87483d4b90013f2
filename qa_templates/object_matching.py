"""Task 14, object matching: is the object marked in one keyframe the same instance as the one marked in another
(yes/no).

object_ids: (a, b); a is marked in the first keyframe it is seen in, b in the last keyframe it is seen in, each
with a box or a point. The answer is yes iff a and b are the same object. "No" pairs prefer an object of the same
category (a hard negative).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import passing, seen_enough
from qa_templates.options import yes_no_answer
from qa_templates.phrasing import category_name, phrase
from qa_templates.referring import PROMPT_COLORS, visual_prompt
from schemas.facts import ObjectFact, ObjectObservation, SceneFacts
from schemas.qa import InputType, TaskType

SAME_FRAME = "same_frame"
MAX_OBJECTS = 4

PHRASINGS = ("Is {a} the same object as {b}?",
             "Do {a} and {b} show the same physical object instance?",
             "Look at {a} and at {b}. Are they one and the same object?")


@register_task
class ObjectMatching(TaskTemplate):
    task_type = TaskType.OBJECT_MATCHING

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        frames = tuple(c.frame_index for c in facts.cameras)
        ready, drops = passing(facts.objects, seen_enough)
        yield from drops
        if len(ready) < 2:
            return
        for i in rng.permutation(len(ready))[:MAX_OBJECTS]:
            a = ready[int(i)]
            others = [o for o in ready if o.object_id != a.object_id]
            same_category = [o for o in others if o.category == a.category]
            pool = same_category or others
            negative = pool[int(rng.integers(len(pool)))]
            for b in (a, negative):
                first, last = _first_view(a), _last_view(b)
                if first.frame_index == last.frame_index:
                    yield Drop(SAME_FRAME,
                               f"{a.object_id} and {b.object_id} both marked in video frame {first.frame_index}")
                    continue
                ids = (a.object_id, b.object_id)
                truth = self.solve(facts, ids, {}) == "yes"
                answer, letter = yes_no_answer(truth)
                kind = (InputType.BBOX, InputType.POINT)[int(rng.integers(2))]
                (name_a, prompt_a), (name_b, prompt_b) = (
                    visual_prompt(facts, _only(obj, view), kind.value, color)
                    for obj, view, color in ((a, first, PROMPT_COLORS[0]), (b, last, PROMPT_COLORS[1])))
                question, index = phrase(rng, PHRASINGS, a=name_a, b=name_b)
                kind_a, kind_b = category_name(a.category), category_name(b.category)
                if truth:
                    why = (f"both marks fall on the same {kind_a}, tracked through {a.n_keyframes_seen} keyframes "
                           "from its first to its last view")
                elif a.category == b.category:
                    why = f"the marks fall on two different {kind_a} instances"
                else:
                    why = f"the first mark is on a {kind_a} and the second on a {kind_b}"
                rationale = f"Following the tracks, {why}; so the answer is {'yes' if truth else 'no'}."
                yield QACandidate(template_id=f"match/{index}",
                                  question=question, rationale=rationale,
                                  answer=answer, answer_text=letter, video_frame_numbers=frames, object_ids=ids,
                                  input_type=kind, visual_prompts=(prompt_a, prompt_b))

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> str:
        return "yes" if object_ids[0] == object_ids[1] else "no"


def _first_view(obj: ObjectFact) -> ObjectObservation:
    return min(obj.observations, key=lambda v: v.frame_index)


def _last_view(obj: ObjectFact) -> ObjectObservation:
    return max(obj.observations, key=lambda v: v.frame_index)


def _only(obj: ObjectFact, view: ObjectObservation) -> ObjectFact:
    """The object as seen in one keyframe only, so the shared visual_prompt marks it there."""
    return obj.model_copy(update={"observations": [view]})
