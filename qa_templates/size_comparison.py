"""Task 2, size comparison: which of two or three objects is longer, taller or has the larger footprint (MC)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import (NEAR_TIE, NOT_ENOUGH_OBJECTS, height_resolved, metric_ready, near_tie,
                                passing)
from qa_templates.geometry import footprint_area, longest_dimension
from qa_templates.options import mc_answer
from qa_templates.phrasing import phrase
from qa_templates.referring import reference_sets
from qa_templates.units import length_phrase, length_unit, round_significant
from schemas.facts import ObjectFact, SceneFacts
from schemas.qa import TaskType
from schemas.tiers import UNIT_PER_METRE, UNIT_SYMBOL, ScaleTier

MAX_QUESTIONS = 4
MAX_TRIES = 12

MEASURES: dict[str, Callable[[ObjectFact], float]] = {
    "longest": longest_dimension,
    "height": lambda obj: float(obj.size_lwh[2]),
    "footprint": footprint_area,
}
ORDERS = ("larger", "smaller")
SUPERLATIVE = {
    "longest": {"larger": "the longest", "smaller": "the shortest"},
    "height": {"larger": "the tallest", "smaller": "the shortest"},
    "footprint": {"larger": "the largest", "smaller": "the smallest"},
}
EXTREME = {"larger": "largest", "smaller": "smallest"}
NOUN = {"longest": "longest sides", "height": "heights", "footprint": "footprints"}
PHRASINGS = {
    "longest": ("Which of these objects is {sup} along its longest dimension?",
                "Comparing the longest side of each object, which one is {sup}?",
                "Which object has the {ext} longest dimension?"),
    "height": ("Which of these objects is {sup}?",
               "Comparing their heights, which object is {sup}?",
               "Which object has the {ext} height?"),
    "footprint": ("Which of these objects has {sup} footprint (length × width)?",
                  "Seen from directly above, which object covers the {ext} area?",
                  "Which object takes up the {ext} horizontal area (length × width)?"),
}


@register_task
class SizeComparison(TaskTemplate):
    """object_ids: the 2–3 compared objects; query: measure, order and name_<i>, the option text of object i."""

    task_type = TaskType.SIZE_COMPARISON

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        tier = facts.scene.scale
        frames = tuple(c.frame_index for c in facts.cameras)
        ready, drops = passing(facts.objects, metric_ready)
        yield from drops
        if len(ready) < 2:
            yield Drop(NOT_ENOUGH_OBJECTS, f"{len(ready)} metric-ready object(s)")
            return
        tried: set[tuple[frozenset[str], str]] = set()
        asked = 0
        for _ in range(MAX_TRIES):
            n_compared = 3 if len(ready) >= 3 and rng.random() < 0.5 else 2
            group = [ready[i] for i in rng.choice(len(ready), size=n_compared, replace=False)]
            measure = tuple(MEASURES)[int(rng.integers(len(MEASURES)))]
            order = ORDERS[int(rng.integers(len(ORDERS)))]
            ids = tuple(o.object_id for o in group)
            if (frozenset(ids), measure) in tried:
                continue
            tried.add((frozenset(ids), measure))
            if measure == "height" and (drop := next(filter(None, map(height_resolved, group)), None)):
                yield drop
                continue
            values = [MEASURES[measure](o) for o in group]
            best, runner_up = sorted(values, reverse=order == "larger")[:2]
            if near_tie(best, runner_up):
                yield Drop(NEAR_TIE, f"{measure} {best:.3g} vs {runner_up:.3g}")
                continue
            for refs in reference_sets(facts, group, rng):
                query = {"measure": measure, "order": order,
                         **{f"name_{i}": name for i, name in enumerate(refs.names)}}
                correct = self.solve(facts, ids, query)
                answer, letter = mc_answer(correct, refs.names)
                question, phrasing = phrase(rng, PHRASINGS[measure], sup=SUPERLATIVE[measure][order],
                                            ext=EXTREME[order])
                listed = ", ".join(f"{name} {_measure_phrase(measure, value, tier)}"
                                   for name, value in zip(refs.names, values))
                rationale = f"Comparing {NOUN[measure]}: {listed}; so {correct} is {SUPERLATIVE[measure][order]}."
                yield QACandidate(template_id=f"{measure}/{phrasing}",
                                  question=question,
                                  rationale=rationale, answer=answer, answer_text=letter, video_frame_numbers=frames,
                                  object_ids=ids, query=query, input_type=refs.input_type,
                                  visual_prompts=refs.prompts)
            asked += 1
            if asked == MAX_QUESTIONS:
                return

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> str:
        by_id = {o.object_id: o for o in facts.objects}
        values = [MEASURES[query["measure"]](by_id[i]) for i in object_ids]
        pick = int(np.argmax(values) if query["order"] == "larger" else np.argmin(values))
        return query[f"name_{pick}"]


def _measure_phrase(measure: str, value: float, tier: ScaleTier) -> str:
    """'12 cm' for lengths, '150 cm²' for footprints (in the tier's unit)."""
    if measure != "footprint":
        return length_phrase(value, tier)
    unit = length_unit(tier)
    return f"{round_significant(value * UNIT_PER_METRE[unit] ** 2):g} {UNIT_SYMBOL[unit]}²"
