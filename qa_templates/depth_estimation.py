"""Task 10, depth estimation: the depth of an object's centre in a given keyframe, measured along that camera's
viewing (optical) axis, not the straight-line distance from the camera (NUM)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.gates import metric_ready
from qa_templates.geometry import to_camera
from qa_templates.phrasing import phrase
from qa_templates.referring import frame_number, reference_sets
from qa_templates.units import length_answer, unit_name
from schemas.facts import SceneFacts
from schemas.qa import TaskType

CENTRE_BEHIND_CAMERA = "centre_behind_camera"
"""The object is seen in the frame but its fused centre lies behind the image plane (a partial view)."""

MAX_QUESTIONS = 4

PHRASINGS = (
    "In frame {frame}, how far in front of the camera is the centre of {obj}, measured along the camera's viewing "
    "axis (its depth, not the straight-line distance), in {unit}?",
    "What is the depth of the centre of {obj} in frame {frame}, measured along the camera's optical axis ({unit})?",
    "Estimate the distance along the viewing axis (the depth) from the camera of frame {frame} to the centre of "
    "{obj}. Answer in {unit}.",
)


@register_task
class DepthEstimation(TaskTemplate):
    """object_ids: (object,); query: video_frame, the video frame number of a keyframe where the object is
    observed."""

    task_type = TaskType.DEPTH_ESTIMATION

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        tier = facts.scene.scale
        frames = tuple(c.frame_index for c in facts.cameras)
        asked = 0
        for index in rng.permutation(len(facts.objects)):
            obj = facts.objects[int(index)]
            if (drop := metric_ready(obj)) is not None:
                yield drop
                continue
            seen = [o.frame_index for o in obj.observations]
            video_frame = seen[int(rng.integers(len(seen)))]
            query = {"video_frame": str(video_frame)}
            depth = self.solve(facts, (obj.object_id,), query)
            if depth <= 0:
                yield Drop(CENTRE_BEHIND_CAMERA, f"{obj.object_id} in video frame {video_frame}: {depth:.3g} m")
                continue
            answer, answer_text = length_answer(depth, tier)
            frame_no = frame_number(facts, video_frame)
            for refs in reference_sets(facts, [obj], rng):
                question, phrasing = phrase(rng, PHRASINGS, frame=frame_no, obj=refs.names[0], unit=unit_name(tier))
                rationale = (f"Back-projecting {refs.names[0]} in frame {frame_no} and taking its centre into that "
                             f"camera's coordinates gives a depth of about {answer_text}.")
                yield QACandidate(template_id=f"camera_depth/{phrasing}", question=question, rationale=rationale,
                                  answer=answer, answer_text=answer_text, video_frame_numbers=frames,
                                  object_ids=(obj.object_id,), query=query, input_type=refs.input_type,
                                  visual_prompts=refs.prompts)
            asked += 1
            if asked == MAX_QUESTIONS:
                return

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> float:
        obj = next(o for o in facts.objects if o.object_id == object_ids[0])
        cam = next(c for c in facts.cameras if c.frame_index == int(query["video_frame"]))
        return float(to_camera(cam, np.asarray(obj.center))[2])
