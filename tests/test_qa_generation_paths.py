"""The fast paths of QA generation give what the plain ones give: task subsets (the planning lane and the rest)
add up to the whole scene, a scene's rows are validated in order with rejects named, the one-call Arrow dump equals
dumping each row, and cached geometry is shared read-only."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from qa_templates.base import Drop, load_all_templates
from qa_templates.generate import PLANNING_TASKS, generate_scene_qa, scene_candidates, validate_rows
from qa_templates.geometry import _polygon_distance, camera_to_canonical, footprint, footprint_distance
from qa_templates.motion_planning import path_blockers, path_clearance, path_collides
from schemas.arrow import arrow_schema, to_arrow
from schemas.qa import QARow
from tests.builders import tabletop_facts


def test_planning_lane_and_the_rest_together_give_the_whole_scene():
    facts = tabletop_facts()
    whole = generate_scene_qa(facts, "run", seed=3)
    rest = [t for t in load_all_templates() if t not in PLANNING_TASKS]
    lanes = [generate_scene_qa(facts, "run", seed=3, tasks=tasks) for tasks in (PLANNING_TASKS, rest)]
    assert any(row.task_type in PLANNING_TASKS for row in whole.rows)
    assert sorted(r.model_dump_json() for lane in lanes for r in lane.rows) == sorted(
        r.model_dump_json() for r in whole.rows)
    assert sum((lane.drops for lane in lanes), Counter()) == whole.drops


def test_validation_keeps_order_and_rejects_a_broken_row_with_its_reason():
    facts = tabletop_facts()
    fields = [item for _, item in scene_candidates(facts, "run") if not isinstance(item, Drop)]
    rows, rejects = validate_rows(fields, "run", facts.scene.scene_id)
    assert rows == [QARow.model_validate(f) for f in fields] and not rejects
    broken = {**fields[1], "question": "short"}
    rows, rejects = validate_rows([fields[0], broken, fields[2]], "run", facts.scene.scene_id)
    assert rows == [QARow.model_validate(fields[0]), QARow.model_validate(fields[2])]
    with pytest.raises(ValidationError, match="at least 10 characters"):
        QARow.model_validate(broken)
    assert [(r.qa_id, r.task_type) for r in rejects] == [(broken["qa_id"], broken["task_type"])]
    assert rejects[0].reason.startswith("question: ") and "at least 10 characters" in rejects[0].reason


def test_one_call_arrow_dump_equals_dumping_each_row():
    rows = generate_scene_qa(tabletop_facts(), "run").rows
    assert to_arrow(rows, QARow).equals(pa.Table.from_pylist([r.model_dump() for r in rows],
                                                             schema=arrow_schema(QARow)))


def test_cached_geometry_is_shared_read_only_and_keyed_by_value():
    facts = tabletop_facts()
    cam = facts.cameras[0]
    pose = camera_to_canonical(cam)
    assert camera_to_canonical(cam) is pose
    with pytest.raises(ValueError, match="read-only"):
        pose[0, 3] = 1.0
    a, b = facts.objects[0], facts.objects[1]
    gap = footprint_distance(footprint(a), footprint(b))
    for shift in (0.0, 0.01, 0.02):
        moved = footprint(a) + np.array([shift, 0.0])
        direct = _polygon_distance.__wrapped__(moved.tobytes(), footprint(b).tobytes(), (4, 2), (4, 2))
        assert footprint_distance(moved, footprint(b)) == direct == footprint_distance(footprint(b), moved)
        assert (direct == gap) == (shift == 0.0)
    path = [list(a.center), list(b.center)]
    assert path_clearance(path, a, [b]) < 0  # slid into the other cup
    assert path_clearance(path[:1] + [[a.center[0], a.center[1] + 0.2, a.center[2]]], a, [b]) > 0


def test_path_blockers_name_exactly_the_obstacles_a_path_collides_with():
    facts = tabletop_facts()
    moved, obstacles = facts.objects[0], facts.objects[1:]
    rng = np.random.default_rng(0)
    named = 0
    for _ in range(40):  # random two-move paths from the moved object across the table
        path = [list(moved.center), *(np.asarray(moved.center) + rng.uniform(-0.4, 0.4, (2, 3)) * [1, 1, 0.2])]
        blockers = path_blockers(path, moved, obstacles)
        assert blockers == [k for k, o in enumerate(obstacles) if path_collides(path, moved, [o])]
        assert bool(blockers) == path_collides(path, moved, obstacles)
        named += len(blockers)
    assert named > 0  # some paths do hit something
