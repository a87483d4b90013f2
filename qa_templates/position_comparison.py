"""Task 1, position comparison: is one object left/right of, above/below, nearer/farther than another (MC)."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from itertools import combinations

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import NOT_ENOUGH_OBJECTS, passing, seen_enough
from qa_templates.geometry import box_corners, to_camera
from qa_templates.motion_planning import Box
from qa_templates.options import ONE_SIDED_ANSWERS, balanced_pick, mc_answer
from qa_templates.phrasing import phrase
from qa_templates.referring import category_is_unique, frame_number, reference_sets
from qa_templates.units import length_phrase
from schemas.facts import CameraFact, ObjectFact, SceneFacts
from schemas.qa import TaskType

SMALL_SEPARATION = "small_separation"
"""The two centres are closer along the asked axis than a quarter of the objects' mean extent along it."""
NOT_CO_VISIBLE = "not_co_visible"
"""No keyframe shows both objects."""

MIN_SEPARATION_SHARE = 0.25
MAX_QUESTIONS = 4
MAX_TRIES = 12

AXES = ("left_right", "above_below", "near_far")
RELATIONS = {  # (relation when a's coordinate is the smaller, relation when it is the larger)
    "left_right": ("left of", "right of"),
    "above_below": ("below", "above"),
    "near_far": ("closer to the camera than", "farther from the camera than"),
}
PHRASINGS = {
    "left_right": ("In frame {frame}, is {a} to the left or to the right of {b}, as the camera sees it?",
                   "From the camera's viewpoint in frame {frame}, where is {a} relative to {b}?",
                   "Look at frame {frame}. Which describes the position of {a} with respect to {b}?"),
    "above_below": ("In frame {frame}, is {a} above or below {b}?",
                    "Considering height above the ground, where is {a} relative to {b} (see frame {frame})?",
                    "Look at frame {frame}. Is {a} higher or lower than {b}?"),
    "near_far": ("In frame {frame}, is {a} closer to or farther from the camera than {b}?",
                 "From the camera position of frame {frame}, how does the distance to {a} compare with {b}?",
                 "Look at frame {frame}. Which describes {a} compared with {b} in depth?"),
}


@register_task
class PositionComparison(TaskTemplate):
    """object_ids: (a, b); query: axis and the keyframe the relation is judged in (video_frame, its video
    frame number)."""

    task_type = TaskType.POSITION_COMPARISON

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        frames = tuple(c.frame_index for c in facts.cameras)
        ready, drops = passing(facts.objects, seen_enough)
        yield from drops
        pairs = list(combinations(ready, 2))
        if not pairs:
            yield Drop(NOT_ENOUGH_OBJECTS, f"{len(ready)} object(s) seen often enough")
            return
        candidates = []
        for index in rng.permutation(len(pairs))[:MAX_TRIES]:
            a, b = pairs[index] if rng.random() < 0.5 else pairs[index][::-1]
            shared = sorted({o.frame_index for o in a.observations} & {o.frame_index for o in b.observations})
            if not shared:
                yield Drop(NOT_CO_VISIBLE, f"{a.object_id} and {b.object_id}")
                continue
            frame_index = shared[int(rng.integers(len(shared)))]
            axis = AXES[int(rng.integers(len(AXES)))]
            coord_a, coord_b, extent_a, extent_b = _along_axis(_camera(facts, frame_index), Box.of(a), Box.of(b), axis)
            if abs(coord_a - coord_b) < MIN_SEPARATION_SHARE * (extent_a + extent_b) / 2.0:
                yield Drop(SMALL_SEPARATION,
                           f"{a.object_id} vs {b.object_id} along {axis} in video frame {frame_index}")
                continue
            query = {"axis": axis, "video_frame": str(frame_index)}
            candidates.append((a, b, query, coord_a, coord_b, self.solve(facts, (a.object_id, b.object_id), query)))
        answers = [correct for *_, correct in candidates]
        weights = [1 + (category_is_unique(facts, a) and category_is_unique(facts, b)) for a, b, *_ in candidates]
        chosen = balanced_pick(candidates, answers, weights, MAX_QUESTIONS, rng)
        if candidates and not chosen:
            yield Drop(ONE_SIDED_ANSWERS, f"relations found: {', '.join(sorted(set(answers)))}")
        for a, b, query, coord_a, coord_b, correct in chosen:
            ids = (a.object_id, b.object_id)
            axis, frame_index = query["axis"], int(query["video_frame"])
            frame_no = frame_number(facts, frame_index)
            answer, letter = mc_answer(correct, RELATIONS[axis])
            for refs in reference_sets(facts, [a, b], rng):
                name_a, name_b = refs.names
                question, phrasing = phrase(rng, PHRASINGS[axis], frame=frame_no, a=name_a, b=name_b)
                rationale = _rationale(facts, axis, frame_no, name_a, name_b, coord_a, coord_b, correct)
                yield QACandidate(template_id=f"{axis}/{phrasing}",
                                  question=question,
                                  rationale=rationale, answer=answer, answer_text=letter, video_frame_numbers=frames,
                                  object_ids=ids, query=query, input_type=refs.input_type,
                                  visual_prompts=refs.prompts)

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> str:
        a, b = (Box.of(_object(facts, i)) for i in object_ids)
        axis = query["axis"]
        coord_a, coord_b, _, _ = _along_axis(_camera(facts, int(query["video_frame"])), a, b, axis)
        return RELATIONS[axis][int(coord_a > coord_b)]


@lru_cache(maxsize=16384)
def _along_axis(cam: CameraFact, a: Box, b: Box, axis: str) -> tuple[float, float, float, float]:
    """Centre coordinates of boxes a and b along the axis and their extents along it: camera x (right) for
    left/right, camera z (depth) for near/far, canonical z (up) for above/below. Cached by value: a candidate is
    judged, then answered (solve) from the same numbers."""
    if axis == "above_below":
        return a.center[2], b.center[2], a.size_lwh[2], b.size_lwh[2]
    column = 0 if axis == "left_right" else 2
    coords = to_camera(cam, np.array([a.center, b.center]))[:, column]
    extents = [np.ptp(to_camera(cam, box_corners(o))[:, column]) for o in (a, b)]
    return float(coords[0]), float(coords[1]), float(extents[0]), float(extents[1])


def _rationale(facts: SceneFacts, axis: str, frame_no: int, name_a: str, name_b: str,
               coord_a: float, coord_b: float, relation: str) -> str:
    tier = facts.scene.scale
    gap = length_phrase(abs(coord_a - coord_b), tier)
    if axis == "left_right":
        side = "right" if coord_a > coord_b else "left"
        found = f"In frame {frame_no}, the centre of {name_a} lies {gap} to the {side} of the centre of {name_b}"
    elif axis == "near_far":
        found = (f"In frame {frame_no}, {name_a} is at a depth of {length_phrase(coord_a, tier)} and {name_b} "
                 f"at {length_phrase(coord_b, tier)}")
    else:
        found = f"The centre of {name_a} is {gap} {'higher' if coord_a > coord_b else 'lower'} than that of {name_b}"
    return f"{found}, so {name_a} is {relation} {name_b}."


def _camera(facts: SceneFacts, frame_index: int) -> CameraFact:
    return next(c for c in facts.cameras if c.frame_index == frame_index)


def _object(facts: SceneFacts, object_id: str) -> ObjectFact:
    return next(o for o in facts.objects if o.object_id == object_id)
