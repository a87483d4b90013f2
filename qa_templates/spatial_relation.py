"""Task 15, spatial relation: support, stacking, containment, adjacency or separation of two objects (MC).

object_ids: (a, b); the answer is a's relation to b. Contact uses a tolerance of 5% of a's height, at least
1 cm × the tier's scale (1 mm on tiny tabletops): surfaces within 1.5 tolerances touch. Separated objects are
"near" within 2.5 of the smaller object's lengths and "far from" each other beyond 3.5. A pair is asked only
when every quantity that decides it lies clear of its threshold (half a tolerance for heights, a tolerance for
footprint contact, a quarter of the smaller length for next to / near, half of it for near / far, 15% of the
thinner height for side by side); solve decides by the thresholds alone. Distractors are the relations a viewer
could take the pair for (PLAUSIBLE), never ones also literally true; the pairs asked are picked so that no
relation answers more than 40% of a scene's rows.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import metric_ready, passing
from qa_templates.motion_planning import Box, contact_tolerance, footprint_gap, footprint_inset
from qa_templates.options import ONE_SIDED_ANSWERS, balanced_pick, mc_answer
from qa_templates.phrasing import phrase
from qa_templates.referring import category_is_unique, reference_sets
from qa_templates.units import length_phrase
from schemas.facts import ObjectFact, SceneFacts
from schemas.qa import TaskType
from schemas.tiers import ScaleTier

AMBIGUOUS_CONTACT = "ambiguous_contact"
AMBIGUOUS_OVERLAP = "ambiguous_overlap"
AMBIGUOUS_GAP = "ambiguous_gap"
AMBIGUOUS_CONTAINMENT = "ambiguous_containment"
NO_NAMED_RELATION = "no_named_relation"

ON_TOP, SUPPORTING, NEXT_TO, INSIDE, HANGING, NEAR, FAR = (
    "resting on top of", "supporting", "next to", "inside", "hanging above", "near but not touching", "far from")
RELATIONS = (ON_TOP, SUPPORTING, NEXT_TO, INSIDE, HANGING, NEAR, FAR)
PLAUSIBLE = {ON_TOP: (SUPPORTING, HANGING, NEXT_TO, INSIDE), SUPPORTING: (ON_TOP, NEXT_TO, INSIDE),
             INSIDE: (ON_TOP, SUPPORTING, NEXT_TO), HANGING: (ON_TOP, SUPPORTING, NEXT_TO),
             NEXT_TO: (NEAR, ON_TOP, SUPPORTING, FAR), NEAR: (NEXT_TO, FAR), FAR: (NEAR, NEXT_TO)}
"""Distractors per correct relation: what the pair could be mistaken for. Never a relation also literally true of
it (a hanging object is near too; a contained one may touch the side), never stacking for objects far apart."""
LEVEL_SHARE, LEVEL_MARGIN = 0.5, 0.15
"""Side by side means height ranges overlapping by at least half the thinner object's height (± 15%)."""
NEAR_GAP, FAR_GAP = 0.5, 1.0
"""'next to' up to half the smaller object's length apart, separated from one length on (asked only outside
that band; the decision itself splits it in the middle)."""
CLOSE_GAP, DISTANT_GAP = 2.5, 3.5
"""Separated objects are 'near' up to 2.5 smaller lengths apart and 'far from' each other from 3.5 on."""
MAX_QUESTIONS = 5

PHRASINGS = ("What is the relation of {a} to {b}?",
             "How is {a} placed with respect to {b}?",
             "Which phrase best describes {a} relative to {b}: {a} is … {b}?")


@register_task
class SpatialRelation(TaskTemplate):
    task_type = TaskType.SPATIAL_RELATION

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        frames = tuple(c.frame_index for c in facts.cameras)
        ready, drops = passing(facts.objects, metric_ready)
        yield from drops
        by_relation: dict[str, list[tuple[ObjectFact, ObjectFact]]] = defaultdict(list)
        for a in ready:
            for b in ready:
                if a is b:
                    continue
                found = relation(a, b, facts.scene.scale, strict=True)
                if isinstance(found, Drop):
                    yield found
                else:
                    by_relation[found].append((a, b))
        pairs = [pair for found in sorted(by_relation) for pair in by_relation[found]]
        answers = [found for found in sorted(by_relation) for _ in by_relation[found]]
        weights = [1 + (category_is_unique(facts, a) and category_is_unique(facts, b)) for a, b in pairs]
        chosen = balanced_pick(pairs, answers, weights, MAX_QUESTIONS, rng)
        if pairs and not chosen:
            yield Drop(ONE_SIDED_ANSWERS, f"relations found: {', '.join(sorted(by_relation))}")
        for a, b in chosen:
            ids = (a.object_id, b.object_id)
            correct = self.solve(facts, ids, {})
            pool = PLAUSIBLE[correct]
            distractors = [pool[i] for i in rng.permutation(len(pool))[:3]]
            answer, letter = mc_answer(correct, distractors)
            for refs in reference_sets(facts, [a, b], rng):
                question, index = phrase(rng, PHRASINGS, a=refs.names[0], b=refs.names[1])
                yield QACandidate(template_id=f"relation/{index}",
                                  question=question,
                                  rationale=_rationale(a, b, refs.names, correct, facts.scene.scale), answer=answer,
                                  answer_text=letter, video_frame_numbers=frames, object_ids=ids,
                                  input_type=refs.input_type, visual_prompts=refs.prompts)

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> str:
        by_id = {o.object_id: o for o in facts.objects}
        found = relation(by_id[object_ids[0]], by_id[object_ids[1]], facts.scene.scale)
        return found.reason if isinstance(found, Drop) else found


class _Judge:
    """Compares quantities with thresholds and remembers the first comparison that fell within its margin."""

    def __init__(self) -> None:
        self.doubt: tuple[str, str] | None = None

    def at_least(self, value: float, threshold: float, margin: float, reason: str, what: str) -> bool:
        if self.doubt is None and abs(value - threshold) < margin:
            self.doubt = (reason, f"{what} {value:.5f} m vs {threshold:.5f} m")
        return value >= threshold


def relation(a: ObjectFact, b: ObjectFact, tier: ScaleTier, strict: bool = False) -> str | Drop:
    """a's relation to b. Strict: a Drop when a deciding quantity lies within its margin of the threshold, or
    when no listed relation fits; otherwise the thresholds decide (the Drop only when none fits)."""
    tol = contact_tolerance(a, tier)
    judge = _Judge()
    found = _decide(a, b, tol, judge)
    detail = f"{a.object_id} vs {b.object_id}"
    if strict and judge.doubt is not None:
        return Drop(judge.doubt[0], f"{detail}: {judge.doubt[1]}")
    return Drop(NO_NAMED_RELATION, f"{detail}: {found}") if found not in RELATIONS else found


def _decide(a: ObjectFact, b: ObjectFact, tol: float, judge: _Judge) -> str:
    """The decision tree; returns a relation or a short description of an unnamed configuration."""
    box_a, box_b = Box.of(a), Box.of(b)
    gap = footprint_gap(box_a, box_b)
    scale = min(a.size_lwh[0], b.size_lwh[0])
    far = (NEAR_GAP + FAR_GAP) / 2.0 * scale
    if judge.at_least(gap, far, (FAR_GAP - NEAR_GAP) / 2.0 * scale, AMBIGUOUS_GAP, "footprint gap"):
        distant = (CLOSE_GAP + DISTANT_GAP) / 2.0 * scale
        return FAR if judge.at_least(gap, distant, (DISTANT_GAP - CLOSE_GAP) / 2.0 * scale, AMBIGUOUS_GAP,
                                     "footprint gap") else NEAR
    vertical = _vertical(a, b, tol, judge)
    if judge.at_least(gap, -tol, tol, AMBIGUOUS_OVERLAP, "footprint gap"):
        return NEXT_TO if vertical == "level" else "close but not side by side"
    if vertical == "level":
        inset = footprint_inset(box_a, box_b)
        contained = (not judge.at_least(inset, 0.0, tol, AMBIGUOUS_CONTAINMENT, "footprint inset")
                     and judge.at_least(a.bottom_z, b.bottom_z - 1.5 * tol, 0.5 * tol, AMBIGUOUS_CONTAINMENT,
                                        "bottom")
                     and not judge.at_least(a.center[2], b.top_z, tol, AMBIGUOUS_CONTAINMENT, "centre height"))
        return INSIDE if contained else "boxes interpenetrate"
    named = {"on": ON_TOP, "supports": SUPPORTING, "over": HANGING}
    return named.get(vertical, f"vertically {vertical}")


def _vertical(a: ObjectFact, b: ObjectFact, tol: float, judge: _Judge) -> str:
    """on (a rests on b's top), supports (b rests on a), over / under (a clear gap), level (the height ranges
    overlap by at least half the thinner object), or partial."""
    above, below = a.bottom_z - b.top_z, b.bottom_z - a.top_z
    if judge.at_least(above, 1.5 * tol, 0.5 * tol, AMBIGUOUS_CONTACT, "gap above"):
        return "over"
    if judge.at_least(below, 1.5 * tol, 0.5 * tol, AMBIGUOUS_CONTACT, "gap below"):
        return "under"
    if judge.at_least(above, -1.5 * tol, 0.5 * tol, AMBIGUOUS_CONTACT, "gap above") and judge.at_least(
            a.bottom_z, b.center[2], tol, AMBIGUOUS_CONTACT, "bottom over centre"):
        return "on"
    if judge.at_least(below, -1.5 * tol, 0.5 * tol, AMBIGUOUS_CONTACT, "gap below") and judge.at_least(
            b.bottom_z, a.center[2], tol, AMBIGUOUS_CONTACT, "bottom over centre"):
        return "supports"
    thinner = min(a.size_lwh[2], b.size_lwh[2])
    overlap = min(a.top_z, b.top_z) - max(a.bottom_z, b.bottom_z)
    level = judge.at_least(overlap, LEVEL_SHARE * thinner, LEVEL_MARGIN * thinner, AMBIGUOUS_CONTACT, "overlap")
    return "level" if level else "partial"


def _rationale(a: ObjectFact, b: ObjectFact, names: tuple[str, ...], correct: str, tier: ScaleTier) -> str:
    gap = footprint_gap(Box.of(a), Box.of(b))
    footprints = (f"their footprints are {length_phrase(gap, tier)} apart" if gap > 0
                  else f"their footprints overlap by {length_phrase(-gap, tier)}" if gap < 0
                  else "their footprints touch")
    base = min(a.bottom_z, b.bottom_z)
    resolution = 0.01 * max(a.top_z, b.top_z) - 0.01 * base

    def height(z: float) -> str:
        return length_phrase(z - base if z - base >= resolution else 0.0, tier)

    def span(o: ObjectFact) -> str:
        return f"{height(o.bottom_z)} to {height(o.top_z)}"

    return (f"Above the lower of the two bottoms, {names[0]} spans {span(a)} and {names[1]} spans {span(b)}, "
            f"and {footprints}; so {names[0]} is {correct} {names[1]}.")
