"""Task 13, view change: the camera's dominant motion between two keyframes (MC).

No object_ids; query {"video_frame_a", "video_frame_b"} (video frame numbers; frame b may precede frame a: the
question is about the relative pose, either way in time). Each motion gets a size in degrees: a turn or tilt
its angle, a translation the angle it sweeps at the scene's viewing distance from frame a (atan(t / d)); the
translation is measured along frame a's horizontal heading (forward), its right (sideways) and up.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.geometry import camera_centre, camera_forward, yaw_change_deg
from qa_templates.options import ONE_SIDED_ANSWERS, balanced_pick, mc_answer
from qa_templates.phrasing import phrase
from qa_templates.units import length_phrase
from schemas.facts import CameraFact, SceneFacts
from schemas.qa import TaskType

TOO_LITTLE_MOTION = "too_little_motion"
AMBIGUOUS_MOTION = "ambiguous_motion"
NO_HEADING = "no_heading"

MIN_MOTION_DEG = 10.0
MAX_TURN_DEG = 160.0
"""A turn nearer half a turn than this is dropped: two frames' poses fix the angle only up to a full turn, so a
turn of about 180° is as much left as right."""
DOMINANCE = 2.0
"""The dominant motion must be at least twice as large as the next one."""
MAX_QUESTIONS = 6
MAX_TRIES = 20

MOTIONS = {  # axis → (motion when positive, motion when negative)
    "yaw": ("turned left", "turned right"),
    "pitch": ("tilted up", "tilted down"),
    "forward": ("moved forward", "moved backward"),
    "right": ("moved right", "moved left"),
    "up": ("moved up", "moved down"),
}

PHRASINGS = ("How did the camera move going from frame {a} to frame {b}?",
             "From frame {a} to frame {b}, what was the main motion of the camera?",
             "Compared with frame {a}, how has the viewpoint changed in frame {b}?")


@register_task
class ViewChange(TaskTemplate):
    task_type = TaskType.VIEW_CHANGE

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        cameras = facts.cameras
        frames = tuple(c.frame_index for c in cameras)
        if len(frames) < 2:
            return
        distances = [_viewing_distance(facts, cam) for cam in cameras]  # once per keyframe, for every pair from it
        candidates, tried = [], set()
        for _ in range(MAX_TRIES):
            drawn = tuple(int(i) for i in rng.choice(len(frames), 2, replace=False))
            for pair in (drawn, drawn[::-1]):  # both ways in time: the reverse motion balances the answers
                if pair in tried:
                    continue
                tried.add(pair)
                query = {"video_frame_a": str(frames[pair[0]]), "video_frame_b": str(frames[pair[1]])}
                found = _dominant_motion(_camera_motion(cameras[pair[0]], cameras[pair[1]], distances[pair[0]]),
                                         query)
                if isinstance(found, Drop):
                    yield found
                else:
                    candidates.append((pair, query, found, _direction(found.sizes)))
        answers = [correct for *_, correct in candidates]
        chosen = balanced_pick(candidates, answers, [1] * len(candidates), MAX_QUESTIONS, rng)
        if candidates and not chosen:
            yield Drop(ONE_SIDED_ANSWERS, f"motions found: {', '.join(sorted(set(answers)))}")
        for pair, query, motion, correct in chosen:
            sizes = motion.sizes
            axis = max(sizes, key=lambda k: abs(sizes[k]))
            opposite = MOTIONS[axis][int(sizes[axis] > 0)]
            # other axes offer only motions that did not happen
            untrue = [m for other, amount in sizes.items() if other != axis for m in MOTIONS[other]
                      if abs(amount) < MIN_MOTION_DEG / 2.0 or m == MOTIONS[other][int(amount > 0)]]
            distractors = [opposite] + [untrue[i] for i in rng.permutation(len(untrue))[:2]]
            answer, letter = mc_answer(correct, distractors)
            a_no, b_no = pair[0] + 1, pair[1] + 1
            question, index = phrase(rng, PHRASINGS, a=a_no, b=b_no)
            yield QACandidate(template_id=f"motion/{index}",
                              question=question,
                              rationale=_rationale(facts, motion, a_no, b_no, correct), answer=answer,
                              answer_text=letter, video_frame_numbers=frames, query=query)

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> str:
        return _direction(_motion(facts, query).sizes)


def _direction(sizes: Mapping[str, float]) -> str:
    """The answer: the largest motion, in its direction."""
    axis, size = max(sizes.items(), key=lambda kv: abs(kv[1]))
    return MOTIONS[axis][0 if size > 0 else 1]


@dataclass(frozen=True)
class Motion:
    """The camera's motion between two keyframes (read-only: cached and shared by every question about the pair):
    the translation along frame a's horizontal heading, its right and up (metres), the median distance from
    camera a to what it sees, and each axis's signed size in degrees (turn, tilt, translations as seen from
    that distance)."""

    translation: Mapping[str, float]
    distance: float
    sizes: Mapping[str, float]


def _dominant_motion(motion: Motion | None, query: dict[str, str]) -> Motion | Drop:
    """The frame pair's motion when its largest motion is big enough and dominates, else the drop."""
    if motion is None:
        return Drop(NO_HEADING, f"video frame {query['video_frame_a']} looks straight up or down")
    sizes = motion.sizes
    ranked = sorted(sizes.items(), key=lambda kv: -abs(kv[1]))
    (axis, size), (runner_axis, runner_up) = ranked[0], ranked[1]
    if abs(size) < MIN_MOTION_DEG:
        return Drop(TOO_LITTLE_MOTION, f"largest motion {abs(size):.1f}°")
    if abs(sizes["yaw"]) > MAX_TURN_DEG:
        return Drop(AMBIGUOUS_MOTION, f"turn of {abs(sizes['yaw']):.0f}°: left or right is undecided")
    if abs(size) < DOMINANCE * abs(runner_up):
        return Drop(AMBIGUOUS_MOTION, f"{axis} {abs(size):.1f}° vs {runner_axis} {abs(runner_up):.1f}°")
    return motion


def _motion(facts: SceneFacts, query: dict[str, str]) -> Motion | None:
    """The queried frame pair's motion; None when frame a has no horizontal heading."""
    by_frame = {c.frame_index: c for c in facts.cameras}
    a, b = by_frame[int(query["video_frame_a"])], by_frame[int(query["video_frame_b"])]
    return _camera_motion(a, b, _viewing_distance(facts, a))


def _viewing_distance(facts: SceneFacts, cam: CameraFact) -> float:
    """Median distance from the camera to the objects it sees (all objects if none; half the extent if none)."""
    seen = tuple(o.center for o in facts.objects if any(v.frame_index == cam.frame_index for v in o.observations))
    centres = seen or tuple(o.center for o in facts.objects)
    return _median_distance(cam, centres) if centres else facts.scene.extent_m / 2.0


@lru_cache(maxsize=4096)
def _median_distance(cam: CameraFact, centres: tuple[tuple[float, float, float], ...]) -> float:
    """Median distance from the camera to object centres; cached by value: solve asks again for every pair."""
    return float(np.median([np.linalg.norm(np.asarray(c) - camera_centre(cam)) for c in centres]))


@lru_cache(maxsize=16384)
def _camera_motion(a: CameraFact, b: CameraFact, distance: float) -> Motion | None:
    """`Motion` of cameras a → b at the viewing distance; cached by value: a pair is judged, answered (solve) and
    explained, and asked again under every phrasing seed."""
    heading = _heading(a)
    if heading is None:
        return None
    step = camera_centre(b) - camera_centre(a)
    right = np.array([heading[1], -heading[0]])
    translation = {"forward": float(step[:2] @ heading), "right": float(step[:2] @ right), "up": float(step[2])}
    sizes = {"yaw": yaw_change_deg(a, b), "pitch": _pitch_deg(b) - _pitch_deg(a)}
    sizes.update({k: float(np.degrees(np.arctan2(v, distance))) for k, v in translation.items()})
    return Motion(MappingProxyType(translation), distance, MappingProxyType(sizes))


def _heading(cam: CameraFact) -> np.ndarray | None:
    forward = camera_forward(cam)[:2]
    norm = float(np.linalg.norm(forward))
    return forward / norm if norm > 0.2 else None


def _pitch_deg(cam: CameraFact) -> float:
    return float(np.degrees(np.arcsin(np.clip(camera_forward(cam)[2], -1.0, 1.0))))


def _rationale(facts: SceneFacts, motion: Motion, a_no: int, b_no: int, correct: str) -> str:
    tier = facts.scene.scale
    distance, yaw = motion.distance, motion.sizes["yaw"]
    parts = ", ".join(f"{MOTIONS[k][0 if v > 0 else 1].split()[1]} {length_phrase(abs(v), tier)}"
                      for k, v in motion.translation.items() if np.degrees(np.arctan2(abs(v), distance)) >= 1.0)
    turn = f"turned {abs(yaw):.0f}° to the {'left' if yaw > 0 else 'right'}"
    return (f"From frame {a_no} to frame {b_no} the camera {turn}, tilted {abs(motion.sizes['pitch']):.0f}° "
            f"and moved {parts or 'hardly at all'} (objects about {length_phrase(distance, tier)} "
            f"away), so it mainly {correct}.")
