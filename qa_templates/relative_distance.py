"""Task 7, relative distance: which of two or three objects is closest to (farthest from) a reference object (MC)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import NEAR_TIE, NOT_ENOUGH_OBJECTS, metric_ready, near_tie, passing
from qa_templates.geometry import centre_distance
from qa_templates.options import mc_answer
from qa_templates.phrasing import phrase
from qa_templates.referring import reference_sets
from qa_templates.units import length_phrase
from schemas.facts import SceneFacts
from schemas.qa import TaskType

MAX_QUESTIONS = 4
MAX_TRIES = 12

ORDERS = ("closest", "farthest")
PHRASINGS = {
    "closest": ("Which of these objects is closest to {ref}, measured between centres?",
                "Measuring centre to centre, which object lies nearest to {ref}?",
                "Of the objects listed, which one has its centre closest to the centre of {ref}?"),
    "farthest": ("Which of these objects is farthest from {ref}, measured between centres?",
                 "Measuring centre to centre, which object lies farthest from {ref}?",
                 "Of the objects listed, which one has its centre farthest from the centre of {ref}?"),
}


@register_task
class RelativeDistance(TaskTemplate):
    """object_ids: (reference, candidate 1, candidate 2[, candidate 3]); query: order and name_<i>, the option
    text of candidate object_ids[i]."""

    task_type = TaskType.RELATIVE_DISTANCE

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        tier = facts.scene.scale
        frames = tuple(c.frame_index for c in facts.cameras)
        ready, drops = passing(facts.objects, metric_ready)
        yield from drops
        if len(ready) < 3:
            yield Drop(NOT_ENOUGH_OBJECTS, f"{len(ready)} metric-ready object(s)")
            return
        tried: set[tuple[str, frozenset[str], str]] = set()
        asked = 0
        for _ in range(MAX_TRIES):
            n_candidates = 3 if len(ready) >= 4 and rng.random() < 0.5 else 2
            group = [ready[i] for i in rng.choice(len(ready), size=n_candidates + 1, replace=False)]
            ref, candidates = group[0], group[1:]
            order = ORDERS[int(rng.integers(len(ORDERS)))]
            if (ref.object_id, frozenset(o.object_id for o in candidates), order) in tried:
                continue
            tried.add((ref.object_id, frozenset(o.object_id for o in candidates), order))
            distances = [centre_distance(ref, o) for o in candidates]
            best, runner_up = sorted(distances, reverse=order == "farthest")[:2]
            if near_tie(best, runner_up):
                yield Drop(NEAR_TIE, f"{order} to {ref.object_id}: {best:.3g} m vs {runner_up:.3g} m")
                continue
            ids = tuple(o.object_id for o in group)
            for refs in reference_sets(facts, group, rng):
                query = {"order": order, **{f"name_{i}": refs.names[i] for i in range(1, len(group))}}
                correct = self.solve(facts, ids, query)
                answer, letter = mc_answer(correct, refs.names[1:])
                question, phrasing = phrase(rng, PHRASINGS[order], ref=refs.names[0])
                listed = ", ".join(f"{name} {length_phrase(d, tier)}" for name, d in zip(refs.names[1:], distances))
                rationale = f"Centre distances from {refs.names[0]}: {listed}; so {correct} is {order}."
                yield QACandidate(template_id=f"{order}/{phrasing}",
                                  question=question,
                                  rationale=rationale, answer=answer, answer_text=letter, video_frame_numbers=frames,
                                  object_ids=ids, query=query, input_type=refs.input_type,
                                  visual_prompts=refs.prompts)
            asked += 1
            if asked == MAX_QUESTIONS:
                return

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> str:
        by_id = {o.object_id: o for o in facts.objects}
        ref = by_id[object_ids[0]]
        distances = [centre_distance(ref, by_id[i]) for i in object_ids[1:]]
        pick = int(np.argmin(distances) if query["order"] == "closest" else np.argmax(distances))
        return query[f"name_{pick + 1}"]
