"""Task 13, view change: the camera's dominant motion between two keyframes (MC).

No object_ids; query {"video_frame_a", "video_frame_b"} (video frame numbers; frame b may precede frame a: the
question is about the relative pose, either way in time). Each motion gets a size in degrees: a turn or tilt
its angle, a translation the angle it sweeps at the scene's viewing distance from frame a (atan(t / d)); the
translation is measured along frame a's horizontal heading (forward), its right (sideways) and up.
"""

from __future__ import annotations

from collections.abc import Iterator

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
        frames = tuple(c.frame_index for c in facts.cameras)
        if len(frames) < 2:
            return
        candidates, tried = [], set()
        for _ in range(MAX_TRIES):
            drawn = tuple(int(i) for i in rng.choice(len(frames), 2, replace=False))
            for pair in (drawn, drawn[::-1]):  # both ways in time: the reverse motion balances the answers
                if pair in tried:
                    continue
                tried.add(pair)
                query = {"video_frame_a": str(frames[pair[0]]), "video_frame_b": str(frames[pair[1]])}
                found = _dominant_motion(facts, query)
                if isinstance(found, Drop):
                    yield found
                else:
                    candidates.append((pair, query, found))
        answers = [self.solve(facts, (), query) for _, query, _ in candidates]
        chosen = balanced_pick(candidates, answers, [1] * len(candidates), MAX_QUESTIONS, rng)
        if candidates and not chosen:
            yield Drop(ONE_SIDED_ANSWERS, f"motions found: {', '.join(sorted(set(answers)))}")
        for pair, query, sizes in chosen:
            correct = self.solve(facts, (), query)
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
                              rationale=_rationale(facts, query, a_no, b_no, correct), answer=answer,
                              answer_text=letter, video_frame_numbers=frames, query=query)

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> str:
        sizes = _motion_sizes(facts, query)
        axis, size = max(sizes.items(), key=lambda kv: abs(kv[1]))
        return MOTIONS[axis][0 if size > 0 else 1]


def _dominant_motion(facts: SceneFacts, query: dict[str, str]) -> dict[str, float] | Drop:
    """The motion sizes of a frame pair whose largest motion is big enough and dominates, else the drop."""
    sizes = _motion_sizes(facts, query)
    if sizes is None:
        return Drop(NO_HEADING, f"video frame {query['video_frame_a']} looks straight up or down")
    ranked = sorted(sizes.items(), key=lambda kv: -abs(kv[1]))
    (axis, size), (runner_axis, runner_up) = ranked[0], ranked[1]
    if abs(size) < MIN_MOTION_DEG:
        return Drop(TOO_LITTLE_MOTION, f"largest motion {abs(size):.1f}°")
    if abs(sizes["yaw"]) > MAX_TURN_DEG:
        return Drop(AMBIGUOUS_MOTION, f"turn of {abs(sizes['yaw']):.0f}°: left or right is undecided")
    if abs(size) < DOMINANCE * abs(runner_up):
        return Drop(AMBIGUOUS_MOTION, f"{axis} {abs(size):.1f}° vs {runner_axis} {abs(runner_up):.1f}°")
    return sizes


def _cameras(facts: SceneFacts, query: dict[str, str]) -> tuple[CameraFact, CameraFact]:
    by_frame = {c.frame_index: c for c in facts.cameras}
    return by_frame[int(query["video_frame_a"])], by_frame[int(query["video_frame_b"])]


def _heading(cam: CameraFact) -> np.ndarray | None:
    forward = camera_forward(cam)[:2]
    norm = float(np.linalg.norm(forward))
    return forward / norm if norm > 0.2 else None


def _translation(facts: SceneFacts, query: dict[str, str]) -> dict[str, float] | None:
    """Camera translation a→b along frame a's horizontal heading, its right and up (metres)."""
    a, b = _cameras(facts, query)
    heading = _heading(a)
    if heading is None:
        return None
    step = camera_centre(b) - camera_centre(a)
    right = np.array([heading[1], -heading[0]])
    return {"forward": float(step[:2] @ heading), "right": float(step[:2] @ right), "up": float(step[2])}


def _viewing_distance(facts: SceneFacts, cam: CameraFact) -> float:
    """Median distance from the camera to the objects it sees (all objects if none; half the extent if none)."""
    seen = [o for o in facts.objects if any(v.frame_index == cam.frame_index for v in o.observations)]
    pool = seen or facts.objects
    if not pool:
        return facts.scene.extent_m / 2.0
    return float(np.median([np.linalg.norm(np.asarray(o.center) - camera_centre(cam)) for o in pool]))


def _pitch_deg(cam: CameraFact) -> float:
    return float(np.degrees(np.arcsin(np.clip(camera_forward(cam)[2], -1.0, 1.0))))


def _motion_sizes(facts: SceneFacts, query: dict[str, str]) -> dict[str, float] | None:
    """Signed size in degrees of each motion axis; None when frame a has no horizontal heading."""
    translation = _translation(facts, query)
    if translation is None:
        return None
    a, b = _cameras(facts, query)
    distance = _viewing_distance(facts, a)
    sizes = {"yaw": yaw_change_deg(a, b), "pitch": _pitch_deg(b) - _pitch_deg(a)}
    sizes.update({k: float(np.degrees(np.arctan2(v, distance))) for k, v in translation.items()})
    return sizes


def _rationale(facts: SceneFacts, query: dict[str, str], a_no: int, b_no: int, correct: str) -> str:
    a, b = _cameras(facts, query)
    tier = facts.scene.scale
    distance = _viewing_distance(facts, a)
    yaw = yaw_change_deg(a, b)
    parts = ", ".join(f"{MOTIONS[k][0 if v > 0 else 1].split()[1]} {length_phrase(abs(v), tier)}"
                      for k, v in _translation(facts, query).items() if np.degrees(np.arctan2(abs(v), distance)) >= 1.0)
    turn = f"turned {abs(yaw):.0f}° to the {'left' if yaw > 0 else 'right'}"
    return (f"From frame {a_no} to frame {b_no} the camera {turn}, tilted {abs(_pitch_deg(b) - _pitch_deg(a)):.0f}° "
            f"and moved {parts or 'hardly at all'} (objects about {length_phrase(distance, tier)} "
            f"away), so it mainly {correct}.")
