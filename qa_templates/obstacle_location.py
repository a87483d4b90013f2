"""Task 19, obstacle location: which object is in the way when sliding one object straight to another (MC).

object_ids: (source, target) or (source, target, obstacle); query {"names": JSON {object_id: name}} for the objects
the options name. The source slides horizontally at its height towards the target's centre until it touches the
target; the answer is the object whose footprint, inflated by the source's (motion_planning), the swept path
enters first, or "nothing is in the way". Only objects at the slide's height count: their height range overlaps
the source's by at least a quarter of the thinner one (so what the source rests on, or carries, never does).
An instance that shows but is not an object (too small to lift) cannot be named as the answer: a slide whose path
comes near its bounds (gates.sighted_obstacles), at the slide's height, is dropped (`sighted_in_the_way`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import metric_ready, passing, sighted_obstacles
from qa_templates.motion_planning import Box, entry_fraction, footprint_prism, segment_clearance
from qa_templates.options import ONE_SIDED_ANSWERS, balanced_pick, mc_answer
from qa_templates.phrasing import category_name, phrase
from qa_templates.referring import category_is_unique, reference_sets
from qa_templates.units import length_phrase
from schemas.facts import ObjectFact, SceneFacts, Sighting
from schemas.qa import TaskType
from schemas.tiers import ScaleTier

AMBIGUOUS_CLEARANCE = "ambiguous_clearance"
AMBIGUOUS_HEIGHT = "ambiguous_height"
AMBIGUOUS_FIRST_OBSTACLE = "ambiguous_first_obstacle"
TARGET_NOT_REACHED = "target_not_reached"
ALREADY_TOUCHING = "already_touching"
SIGHTED_IN_THE_WAY = "sighted_in_the_way"
"""An instance that shows but is not an object (its bounds, not its box, are known) comes near the slide."""

NOTHING = "nothing is in the way"
MARGIN_SHARE = 0.1
"""Every box must clear the swept path, or cut into it, by at least 10% of the source's width."""
LEVEL_SHARE, LEVEL_MARGIN = 0.25, 0.1
"""At the slide's height: height ranges overlap by ≥ 25% of the thinner object (asked only ± 10% away)."""
MAX_QUESTIONS = 6
MAX_TRIES = 40
MAX_NAMED = 3

PHRASINGS = ("Which object is in the way when sliding {source} straight to {target}?",
             "If you push {source} in a straight line towards {target}, what does it bump into first?",
             "{Source} is slid along its surface directly towards {target}. Which object blocks it first?")


@dataclass(frozen=True)
class Passage:
    """How the slide passes one other object: footprint clearance to the swept path (negative = cuts in),
    the distance travelled when it first cuts in (None if never), and its height-overlap share."""

    obj: ObjectFact
    clearance: float
    entered_after: float | None
    level_share: float

    @property
    def blocks(self) -> bool:
        return self.entered_after is not None and self.level_share >= LEVEL_SHARE


@dataclass(frozen=True)
class Slide:
    length: float
    target_share: float
    passages: tuple[Passage, ...]

    @property
    def hits(self) -> list[Passage]:
        return sorted((p for p in self.passages if p.blocks), key=lambda p: p.entered_after)


@register_task
class ObstacleLocation(TaskTemplate):
    task_type = TaskType.OBSTACLE_LOCATION

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        tier = facts.scene.scale
        frames = tuple(c.frame_index for c in facts.cameras)
        ready, drops = passing(facts.objects, metric_ready)
        yield from drops
        if len(ready) < 3:
            return
        sighted = sighted_obstacles(facts)
        if isinstance(sighted, Drop):
            yield sighted
            return
        candidates, tried = [], set()
        for _ in range(MAX_TRIES):
            pair = tuple(int(k) for k in rng.choice(len(ready), 2, replace=False))
            if pair in tried:
                continue
            tried.add(pair)
            source, target = ready[pair[0]], ready[pair[1]]
            slide = sweep(facts, source, target)
            if isinstance(slide, Drop):
                yield slide
                continue
            if (drop := _margin_gate(source, slide) or _sighted_gate(source, target, slide, sighted)) is not None:
                yield drop
                continue
            candidates.append((source, target, slide, _named(slide, ready)))
        answers = [slide.hits[0].obj.object_id if slide.hits else NOTHING for _, _, slide, _ in candidates]
        weights = [1 + all(category_is_unique(facts, o) for o in (source, target, *named))
                   for source, target, _, named in candidates]
        chosen = balanced_pick(candidates, answers, weights, MAX_QUESTIONS, rng)
        if candidates and not chosen:
            yield Drop(ONE_SIDED_ANSWERS, f"first obstacles found: {', '.join(sorted(set(answers)))}")
        for source, target, slide, named in chosen:
            blocker = slide.hits[0].obj if slide.hits else None
            ids = (source.object_id, target.object_id) + ((blocker.object_id,) if blocker else ())
            for refs in reference_sets(facts, [source, target, *named], rng):
                names = dict(zip((o.object_id for o in named), refs.names[2:]))
                query = {"names": json.dumps(names)}
                correct = self.solve(facts, ids, query)
                distractors = [n for n in [*names.values(), NOTHING] if n != correct]
                answer, letter = mc_answer(correct, distractors)
                question, index = phrase(rng, PHRASINGS, source=refs.names[0], target=refs.names[1],
                                         Source=refs.names[0][0].upper() + refs.names[0][1:])
                yield QACandidate(template_id=f"obstacle/{index}",
                                  question=question,
                                  rationale=_rationale(source, slide, refs.names, correct, tier),
                                  answer=answer, answer_text=letter, video_frame_numbers=frames, object_ids=ids,
                                  query=query, input_type=refs.input_type, visual_prompts=refs.prompts)

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> str:
        by_id = {o.object_id: o for o in facts.objects}
        slide = sweep(facts, by_id[object_ids[0]], by_id[object_ids[1]])
        hits = [] if isinstance(slide, Drop) else slide.hits
        if not hits:
            return NOTHING
        blocker = hits[0].obj
        return json.loads(query["names"]).get(blocker.object_id, f"the {category_name(blocker.category)}")


def _named(slide: Slide, ready: list[ObjectFact]) -> list[ObjectFact]:
    """The objects the options name: the first obstacle (if any), then the ready objects passing closest."""
    hits = slide.hits
    in_way = {p.obj.object_id for p in hits}
    clear = [p.obj for p in sorted(slide.passages, key=lambda p: p.clearance)
             if p.obj.object_id not in in_way and p.obj in ready]
    return ([hits[0].obj] if hits else []) + clear[:MAX_NAMED - (1 if hits else 0)]


def sweep(facts: SceneFacts, source: ObjectFact, target: ObjectFact) -> Slide | Drop:
    """Slide the source's box straight towards the target's centre until it touches the target."""
    moved, start = Box.of(source), np.asarray(source.center, dtype=float)
    far = start + 2.0 * np.array([*np.subtract(target.center[:2], source.center[:2]), 0.0])
    target_share = _level_share(target, source)
    contact = entry_fraction(footprint_prism(Box.of(target), moved), start, far)
    if target_share < LEVEL_SHARE or contact is None:
        return Drop(TARGET_NOT_REACHED, f"{target.object_id} is not at {source.object_id}'s height")
    if contact == 0.0:
        return Drop(ALREADY_TOUCHING, f"{source.object_id} touches {target.object_id}")
    end = start + (far - start) * contact
    length = float(np.linalg.norm(end - start))
    passages = []
    for obj in facts.objects:
        if obj.object_id in (source.object_id, target.object_id):
            continue
        prism = footprint_prism(Box.of(obj), moved)
        entered = entry_fraction(prism, start, end)
        passages.append(Passage(obj, segment_clearance(prism, start, end),
                                None if entered is None else entered * length, _level_share(obj, source)))
    return Slide(length, target_share, tuple(passages))


def _level_share(obj: ObjectFact, source: ObjectFact) -> float:
    """Overlap of the two height ranges as a share of the thinner object's height (negative = a gap)."""
    overlap = min(obj.top_z, source.top_z) - max(obj.bottom_z, source.bottom_z)
    return overlap / min(obj.size_lwh[2], source.size_lwh[2])


def _margin_gate(source: ObjectFact, slide: Slide) -> Drop | None:
    margin = MARGIN_SHARE * source.size_lwh[1]
    if abs(slide.target_share - LEVEL_SHARE) < LEVEL_MARGIN:
        return Drop(AMBIGUOUS_HEIGHT, f"target overlaps the slide's heights by {slide.target_share:.2f}")
    for p in slide.passages:
        if p.clearance < margin and abs(p.level_share - LEVEL_SHARE) < LEVEL_MARGIN:
            return Drop(AMBIGUOUS_HEIGHT, f"{p.obj.object_id} overlaps the slide's heights by {p.level_share:.2f}")
        if abs(p.clearance) < margin and p.level_share >= LEVEL_SHARE:
            return Drop(AMBIGUOUS_CLEARANCE, f"{p.obj.object_id} {p.clearance:+.4f} m from the swept path")
    hits = slide.hits
    if len(hits) >= 2 and hits[1].entered_after - hits[0].entered_after < margin:
        return Drop(AMBIGUOUS_FIRST_OBSTACLE, f"{hits[0].obj.object_id} and {hits[1].obj.object_id}")
    return None


def _sighted_gate(source: ObjectFact, target: ObjectFact, slide: Slide, sighted: list[Sighting]) -> Drop | None:
    """No sighted instance's bounds come within the margin of the swept path unless clearly above or below it."""
    moved, start = Box.of(source), np.asarray(source.center, dtype=float)
    direction = np.array([*np.subtract(target.center[:2], source.center[:2]), 0.0])
    end = start + direction / np.linalg.norm(direction) * slide.length
    margin = MARGIN_SHARE * source.size_lwh[1]
    for s in sighted:
        low, high = Box.of(s.bounds).z_range
        overlap = min(high, source.top_z) - max(low, source.bottom_z)
        level = overlap / min(high - low, source.size_lwh[2])
        near = segment_clearance(footprint_prism(Box.of(s.bounds), moved), start, end) < margin
        if near and level >= LEVEL_SHARE - LEVEL_MARGIN:
            return Drop(SIGHTED_IN_THE_WAY, f"instance {s.instance_id} ({s.category}) may be in the way")
    return None


def _rationale(source: ObjectFact, slide: Slide, names: tuple[str, ...], correct: str, tier: ScaleTier) -> str:
    head = (f"Sliding {names[0]} straight towards {names[1]} sweeps its box about "
            f"{length_phrase(slide.length, tier)} before it touches {names[1]}")
    hits = slide.hits
    if not hits:
        return f"{head}, and no other box at that height cuts into the swept path; so {correct}."
    first = hits[0]
    apart = float(np.linalg.norm(np.subtract(first.obj.center[:2], source.center[:2])))
    return (f"{head}; the first box it runs into is {correct}, after about "
            f"{length_phrase(first.entered_after, tier)}, lying about {length_phrase(apart, tier)} from "
            f"{names[0]}; so {correct} is in the way.")
