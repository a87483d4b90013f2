"""Task 5, rotation estimation: by how many degrees the camera turned between two keyframes (NUM)."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.geometry import relative_rotation_deg, yaw_change_deg
from qa_templates.phrasing import phrase
from qa_templates.units import quantity_answer
from schemas.facts import CameraFact, SceneFacts
from schemas.qa import TaskType
from schemas.tiers import DisplayUnit

NEAR_ZERO_ROTATION = "near_zero_rotation"
"""The camera turned less than MIN_ROTATION_DEG: relative errors of pose estimates dominate."""
NOT_ENOUGH_KEYFRAMES = "not_enough_keyframes"

MIN_ROTATION_DEG = 10.0
MAX_QUESTIONS = 4
MAX_TRIES = 10

PHRASINGS = (
    "By how many degrees did the camera rotate between frame {a} and frame {b}?",
    "What is the rotation angle of the camera from frame {a} to frame {b}, in degrees?",
    "Estimate how far the camera's orientation changed between frame {a} and frame {b} (degrees).",
)


@register_task
class RotationEstimation(TaskTemplate):
    """object_ids: none; query: frame_a and frame_b, the frame_index of the two keyframes (a before b)."""

    task_type = TaskType.ROTATION_ESTIMATION

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        frames = tuple(c.frame_index for c in facts.cameras)
        pairs = list(combinations(range(len(facts.cameras)), 2))
        if not pairs:
            yield Drop(NOT_ENOUGH_KEYFRAMES, f"{len(frames)} keyframe(s)")
            return
        asked = 0
        for index in rng.permutation(len(pairs))[:MAX_TRIES]:
            pos_a, pos_b = pairs[index]
            cam_a, cam_b = facts.cameras[pos_a], facts.cameras[pos_b]
            query = {"video_frame_a": str(cam_a.frame_index), "video_frame_b": str(cam_b.frame_index)}
            angle = self.solve(facts, (), query)
            if angle < MIN_ROTATION_DEG:
                yield Drop(NEAR_ZERO_ROTATION, f"video frames {cam_a.frame_index}→{cam_b.frame_index}: {angle:.1f}°")
                continue
            answer, answer_text = quantity_answer(angle, DisplayUnit.DEG)
            question, phrasing = phrase(rng, PHRASINGS, a=pos_a + 1, b=pos_b + 1)
            yield QACandidate(template_id=f"camera/{phrasing}", question=question,
                              rationale=_rationale(cam_a, cam_b, pos_a + 1, pos_b + 1, answer_text),
                              answer=answer, answer_text=answer_text, video_frame_numbers=frames, query=query)
            asked += 1
            if asked == MAX_QUESTIONS:
                return

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> float:
        by_frame = {c.frame_index: c for c in facts.cameras}
        return relative_rotation_deg(by_frame[int(query["video_frame_a"])], by_frame[int(query["video_frame_b"])])


def _rationale(cam_a: CameraFact, cam_b: CameraFact, no_a: int, no_b: int, answer_text: str) -> str:
    yaw = yaw_change_deg(cam_a, cam_b)
    turn = f"its heading turned {abs(yaw):.0f}° to the {'left' if yaw > 0 else 'right'}"
    return (f"Comparing the camera poses of frame {no_a} and frame {no_b}, {turn}; the full rotation between the "
            f"two orientations is {answer_text}.")
