"""Task 9, room size: floor area or volume of the room an indoor video walks through (NUM, indoor only)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from qa_templates.base import Drop, QACandidate, TaskTemplate, register_task
from qa_templates.phrasing import phrase
from qa_templates.units import length_phrase, quantity_answer
from schemas.facts import SceneFacts
from schemas.qa import TaskType
from schemas.tiers import DisplayUnit

NO_ROOM_EXTENT = "no_room_extent"
"""The facts hold no room extents (the walls were not found)."""
NO_ROOM_HEIGHT = "no_room_height"
"""The floor outline is known but the ceiling was not seen, so the volume is not."""

UNITS = {"floor_area": DisplayUnit.M2, "volume": DisplayUnit.M3}
PHRASINGS = {
    "floor_area": ("What is the floor area of this room, in square metres?",
                   "How large is the room's floor (m²)?",
                   "Estimate the size of the room as its floor area in square metres."),
    "volume": ("What is the volume of this room, in cubic metres?",
               "How much space does the room enclose (m³)?",
               "Estimate the room's volume, floor to ceiling, in cubic metres."),
}


@register_task
class RoomSize(TaskTemplate):
    """object_ids: none; query: measure (floor_area or volume)."""

    task_type = TaskType.ROOM_SIZE

    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        room = facts.scene.room
        if room is None:
            yield Drop(NO_ROOM_EXTENT, facts.scene.scene_id)
            return
        frames = tuple(c.frame_index for c in facts.cameras)
        tier = facts.scene.scale
        extent = f"{length_phrase(room.length_m, tier)} × {length_phrase(room.width_m, tier)}"
        if room.height_m is not None:
            extent += f" and {length_phrase(room.height_m, tier)} high"
        for measure, unit in UNITS.items():
            if measure == "volume" and room.volume_m3 is None:
                yield Drop(NO_ROOM_HEIGHT, facts.scene.scene_id)
                continue
            query = {"measure": measure}
            answer, answer_text = quantity_answer(self.solve(facts, (), query), unit)
            question, phrasing = phrase(rng, PHRASINGS[measure])
            rationale = (f"The walls and floor outline a room of about {extent}, so its "
                         f"{measure.replace('_', ' ')} is about {answer_text}.")
            yield QACandidate(template_id=f"{measure}/{phrasing}", question=question, rationale=rationale,
                              answer=answer, answer_text=answer_text, video_frame_numbers=frames, query=query)

    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> float:
        room = facts.scene.room
        return room.floor_area_m2 if query["measure"] == "floor_area" else room.volume_m3
