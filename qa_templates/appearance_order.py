"""Task 12, appearance order: in which order three objects (two where the video reveals fewer at different
times) first appear in the video (MC).

object_ids: the objects in their order of first appearance (ObjectFact.first_seen_frame);
query {"names": JSON {object_id: name as the question says it}} so solve can word the ordering. Asked only when
the first appearances are at least two keyframes apart; no object shows at all (its pixel-level sighting, over
every frame whose masks are known) before the one ordered before it is seen clearly (an object first showing too
small to be sure of has no sure moment of first appearance); and, where visibility is known at the keyframes
only, each object is first seen whole or entering over the image border (not emerging from behind something).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import first_showing, seen_enough
from qa_templates.options import mc_answer
from qa_templates.phrasing import phrase
from qa_templates.referring import frame_number, reference_sets
from schemas.facts import ObjectFact, SceneFacts
from schemas.qa import TaskType

SIMULTANEOUS_APPEARANCE = "simultaneous_appearance"
CLOSE_APPEARANCE = "close_appearance"
"""Two objects first seen in neighbouring keyframes: which one a detector catches first is too close to call."""
MIN_KEYFRAME_GAP = 2
OCCLUDED_AT_FIRST = "occluded_at_first"
SHOWS_BEFORE_CLEAR = "shows_before_clear"
"""An object shows (too small to be sure of) before the one ordered before it is first seen clearly."""
MAX_QUESTIONS = 5
MAX_TRIES = 40

PHRASINGS = ("In what order do these objects first appear in the video: {objects}?",
             "Watching the video from the start, which order do {objects} show up in for the first time?",
             "Sort {objects} by when each of them is first seen in the video.")


@register_task
class AppearanceOrder(TaskTemplate):
    task_type = TaskType.APPEARANCE_ORDER

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        frames = tuple(c.frame_index for c in facts.cameras)
        ready = []
        for obj in facts.objects:
            if (drop := seen_enough(obj) or _hidden_at_first(facts, obj)) is not None:
                yield drop
            else:
                ready.append(obj)
        distinct_firsts = len({first_showing(facts, o) for o in ready})  # objects showing apart can be ordered
        size = 3 if distinct_firsts >= 3 else 2
        if distinct_firsts < 2:
            if ready:
                yield Drop(SIMULTANEOUS_APPEARANCE, f"all {len(ready)} objects show from frame "
                                                    f"{first_showing(facts, ready[0])}")
            return
        asked, tried = 0, set()
        for _ in range(MAX_TRIES):
            chosen = frozenset(int(i) for i in rng.choice(len(ready), size, replace=False))
            if asked >= MAX_QUESTIONS or chosen in tried:
                continue
            tried.add(chosen)
            objects = [ready[i] for i in sorted(chosen)]
            firsts = sorted(frame_number(facts, o.first_seen_frame) for o in objects)
            steps = np.diff(firsts)
            if steps.min() == 0:
                yield Drop(SIMULTANEOUS_APPEARANCE, f"first seen in frames {firsts}")
                continue
            if steps.min() < MIN_KEYFRAME_GAP:
                yield Drop(CLOSE_APPEARANCE, f"first seen in frames {firsts}")
                continue
            ordered = sorted(objects, key=lambda o: o.first_seen_frame)
            if any(first_showing(facts, later) <= earlier.first_seen_frame
                   for earlier, later in itertools.pairwise(ordered)):
                yield Drop(SHOWS_BEFORE_CLEAR, "first sightings " + ", ".join(
                    f"{o.object_id} {first_showing(facts, o)}–{o.first_seen_frame}" for o in ordered))
                continue
            asked += 1
            ids = tuple(o.object_id for o in ordered)
            mentioned = [objects[i] for i in rng.permutation(size)]
            for refs in reference_sets(facts, mentioned, rng):
                names = dict(zip((o.object_id for o in mentioned), refs.names))
                query = {"names": json.dumps(names)}
                correct = self.solve(facts, ids, query)
                wrong = [_ordering([names[o.object_id] for o in perm])
                         for perm in itertools.permutations(ordered) if list(perm) != ordered]
                distractors = [wrong[i] for i in rng.permutation(len(wrong))[:3]]
                answer, letter = mc_answer(correct, distractors)
                listed = ", ".join(refs.names[:-1]) + " and " + refs.names[-1]
                question, index = phrase(rng, PHRASINGS, objects=listed)
                seen = "; ".join(f"{names[o.object_id]} first seen clearly in frame {_frame_no(facts, o)}"
                                 for o in ordered)
                rationale = f"Tracking the objects through the keyframes: {seen}. So the order is {correct}."
                yield QACandidate(template_id=f"order/{index}",
                                  question=question,
                                  rationale=rationale, answer=answer, answer_text=letter, video_frame_numbers=frames,
                                  object_ids=ids, query=query, input_type=refs.input_type,
                                  visual_prompts=refs.prompts)

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> str:
        names = json.loads(query["names"])
        by_id = {o.object_id: o for o in facts.objects}
        ordered = sorted(object_ids, key=lambda i: by_id[i].first_seen_frame)
        return _ordering([names[i] for i in ordered])


def _hidden_at_first(facts: SceneFacts, obj: ObjectFact) -> Drop | None:
    """Where visibility was read at the keyframes only, an object must enter the view over the image border or be
    whole when first seen: one that first shows partly hidden may have emerged from behind something between
    keyframes. Read over every frame, its first showing is known to the frame."""
    if facts.scene.sightings_from == "all_frames":
        return None
    first = min(obj.observations, key=lambda v: v.frame_index)
    cam = next(c for c in facts.cameras if c.frame_index == first.frame_index)
    x1, y1, x2, y2 = first.bbox_xyxy
    at_border = x1 <= 1 or y1 <= 1 or x2 >= cam.width - 1 or y2 >= cam.height - 1
    if first.complete or at_border:
        return None
    return Drop(OCCLUDED_AT_FIRST, f"{obj.object_id} partly hidden in video frame {first.frame_index}")


def _ordering(names: list[str]) -> str:
    return ", then ".join(names)


def _frame_no(facts: SceneFacts, obj: ObjectFact) -> int:
    return frame_number(facts, obj.first_seen_frame)
