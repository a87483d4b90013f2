"""Contract over every registered task template, and validation routing rows that fail into `rejects`."""

from __future__ import annotations

import math

import pytest

from qa_templates.base import TASK_REGISTRY, QACandidate, TaskTemplate, load_all_templates, register_task, template_for
from qa_templates.generate import generate_scene_qa
from schemas.arrow import arrow_schema, to_arrow
from schemas.qa import TASK_TIERS, QARow, TaskType
from schemas.tiers import DisplayUnit, ScaleTier
from tests.builders import tabletop_facts


def test_every_task_type_has_exactly_one_template():
    registry = load_all_templates()
    assert set(registry) == set(TaskType)
    for task, cls in registry.items():
        assert cls.task_type is task and cls().tiers == TASK_TIERS[task]


def test_a_second_template_for_a_task_is_refused():
    load_all_templates()

    class Another(TaskTemplate):
        task_type = TaskType.OBJECT_SIZE

        def generate(self, facts, rng):
            return iter(())

        def solve(self, facts, object_ids, query):
            return 0.0

    with pytest.raises(ValueError, match="object_size already has template ObjectSize"):
        register_task(Another)


def test_unknown_task_names_the_registered_ones():
    with pytest.raises(KeyError, match="registered: absolute_distance, appearance_order"):
        template_for("teleportation")


def test_tabletop_scene_gives_valid_rows_for_its_tasks_only():
    qa = generate_scene_qa(tabletop_facts(), "run-1")
    tasks = {row.task_type for row in qa.rows}
    assert not qa.rejects
    assert tasks <= {t for t in TaskType if ScaleTier.TABLETOP in TASK_TIERS[t]}
    assert TaskType.ROOM_SIZE not in tasks and TaskType.NAVIGATION not in tasks
    assert len(tasks) >= 12
    assert {row.input_type.value for row in qa.rows} >= {"text", "bbox", "point"}
    table = to_arrow(qa.rows, QARow)
    assert table.schema == arrow_schema(QARow) and table.num_rows == len(qa.rows)


def test_same_seed_same_qa_ids_other_seed_other_phrasing():
    first = [r.qa_id for r in generate_scene_qa(tabletop_facts(), "a", seed=0).rows]
    again = [r.qa_id for r in generate_scene_qa(tabletop_facts(), "b", seed=0).rows]
    other = [r.qa_id for r in generate_scene_qa(tabletop_facts(), "a", seed=1).rows]
    assert first == again and first != other


def test_a_candidate_that_fails_validation_goes_to_rejects_with_its_reason(monkeypatch):
    load_all_templates()

    class BrokenSize(TaskTemplate):
        task_type = TaskType.OBJECT_SIZE

        def generate(self, facts, rng):
            obj = facts.objects[0]
            for value in (0.1, math.nan, -0.2):
                yield QACandidate(template_id="t/0", question=f"How long is the {obj.category}, in cm?",
                                  rationale="measured", answer={"value_si": value, "unit": DisplayUnit.CM,
                                                                "display_value": value * 100},
                                  answer_text=f"{value * 100} cm",
                                  video_frame_numbers=(facts.cameras[0].frame_index,),
                                  object_ids=(obj.object_id,), query={"dimension": "longest", "v": str(value)})

        def solve(self, facts, object_ids, query):
            return float(query["v"])

    monkeypatch.setitem(TASK_REGISTRY, TaskType.OBJECT_SIZE, BrokenSize)
    qa = generate_scene_qa(tabletop_facts(), "run-1")
    sizes = [r for r in qa.rows if r.task_type is TaskType.OBJECT_SIZE]
    rejects = [r for r in qa.rejects if r.task_type == "object_size"]
    assert len(sizes) == 1 and len(rejects) == 2
    reasons = sorted(r.reason for r in rejects)
    assert "finite" in reasons[0] or "finite" in reasons[1], reasons
    assert any("greater than 0" in r for r in reasons), reasons
