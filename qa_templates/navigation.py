"""Task 16, navigation: from where the camera stands in a keyframe, which way to head to reach a target (MC).

object_ids: (target,); query {"video_frame"}. The answer is the sector of the target's bearing in that camera's
horizontal heading: straight ahead within 30°, ahead to the left/right up to 90°, behind on the left/right beyond.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import metric_ready, passing
from qa_templates.geometry import camera_centre, camera_forward
from qa_templates.options import ONE_SIDED_ANSWERS, balanced_pick, mc_answer
from qa_templates.phrasing import phrase
from qa_templates.referring import category_is_unique, frame_number, reference_sets
from qa_templates.units import length_phrase
from schemas.facts import CameraFact, ObjectFact, SceneFacts
from schemas.qa import TaskType

NEAR_SECTOR_BOUNDARY = "near_sector_boundary"
TARGET_TOO_CLOSE = "target_too_close"
NO_HEADING = "no_heading"

AHEAD, AHEAD_LEFT, AHEAD_RIGHT, BEHIND_LEFT, BEHIND_RIGHT = (
    "straight ahead", "ahead and to the left", "ahead and to the right", "behind you on the left",
    "behind you on the right")
DIRECTIONS = (AHEAD, AHEAD_LEFT, AHEAD_RIGHT, BEHIND_LEFT, BEHIND_RIGHT)
AHEAD_HALF_WIDTH_DEG = 30.0
SECTOR_MARGIN_DEG = 10.0
MAX_QUESTIONS = 5
MAX_TRIES = 60

PHRASINGS = ("From where the camera is in frame {frame}, which way should you head to reach {target}?",
             "You stand where frame {frame} was taken, facing the same way. In which direction is {target}?",
             "Starting at the camera position of frame {frame}, which direction leads towards {target}?")


@register_task
class Navigation(TaskTemplate):
    task_type = TaskType.NAVIGATION

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        frames = tuple(c.frame_index for c in facts.cameras)
        ready, drops = passing(facts.objects, metric_ready)
        yield from drops
        if not ready:
            return
        candidates: list[tuple[ObjectFact, CameraFact, float, float]] = []
        pairs = [(o, c) for o in ready for c in facts.cameras]
        for k in rng.permutation(len(pairs))[:MAX_TRIES]:
            target, cam = pairs[int(k)]
            bearing = _bearing_deg(cam, target)
            if bearing is None:
                yield Drop(NO_HEADING, f"video frame {cam.frame_index} looks straight up or down")
                continue
            distance = _distance(cam, target)
            if distance < max(target.size_lwh[:2]):
                yield Drop(TARGET_TOO_CLOSE, f"{target.object_id} {distance:.1f} m from video frame {cam.frame_index}")
                continue
            if _margin_deg(bearing) < SECTOR_MARGIN_DEG:
                yield Drop(NEAR_SECTOR_BOUNDARY, f"bearing {bearing:.1f}°")
                continue
            candidates.append((target, cam, bearing, distance))
        answers = [_sector(bearing) for _, _, bearing, _ in candidates]
        weights = [1 + category_is_unique(facts, target) for target, *_ in candidates]
        chosen = balanced_pick(candidates, answers, weights, MAX_QUESTIONS, rng)
        if candidates and not chosen:
            yield Drop(ONE_SIDED_ANSWERS, f"directions found: {', '.join(sorted(set(answers)))}")
        for target, cam, bearing, distance in chosen:
            ids, query = (target.object_id,), {"video_frame": str(cam.frame_index)}
            correct = self.solve(facts, ids, query)
            pool = [d for d in DIRECTIONS if d != correct]
            answer, letter = mc_answer(correct, pool)
            frame_no = frame_number(facts, cam.frame_index)
            side = f"{abs(bearing):.0f}° to the {'left' if bearing > 0 else 'right'} of"
            for refs in reference_sets(facts, [target], rng):
                question, index = phrase(rng, PHRASINGS, frame=frame_no, target=refs.names[0])
                rationale = (f"Seen from the camera of frame {frame_no}, {refs.names[0]} lies about "
                             f"{length_phrase(distance, facts.scene.scale)} away, {side} its heading, so it is "
                             f"{correct}.")
                yield QACandidate(template_id=f"heading/{index}",
                                  question=question,
                                  rationale=rationale, answer=answer, answer_text=letter, video_frame_numbers=frames,
                                  object_ids=ids, query=query, input_type=refs.input_type,
                                  visual_prompts=refs.prompts)

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> str:
        cam = next(c for c in facts.cameras if c.frame_index == int(query["video_frame"]))
        target = next(o for o in facts.objects if o.object_id == object_ids[0])
        return _sector(_bearing_deg(cam, target))


def _sector(bearing: float) -> str:
    if abs(bearing) <= AHEAD_HALF_WIDTH_DEG:
        return AHEAD
    if abs(bearing) <= 90.0:
        return AHEAD_LEFT if bearing > 0 else AHEAD_RIGHT
    return BEHIND_LEFT if bearing > 0 else BEHIND_RIGHT


def _distance(cam: CameraFact, target: ObjectFact) -> float:
    return float(np.linalg.norm(np.asarray(target.center[:2]) - camera_centre(cam)[:2]))


def _bearing_deg(cam: CameraFact, target: ObjectFact) -> float | None:
    """Signed horizontal angle from the camera's heading to the target (positive = left); None without heading."""
    heading = camera_forward(cam)[:2]
    if np.linalg.norm(heading) < 0.2:
        return None
    to_target = np.asarray(target.center[:2]) - camera_centre(cam)[:2]
    return float(np.degrees(np.arctan2(heading[0] * to_target[1] - heading[1] * to_target[0], heading @ to_target)))


def _margin_deg(bearing: float) -> float:
    """Angular distance to the nearest sector boundary (±30°, ±90°, 180°)."""
    boundaries = (AHEAD_HALF_WIDTH_DEG, 90.0, 180.0)
    return min(abs(abs(bearing) - b) for b in boundaries)
