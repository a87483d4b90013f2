"""Reasoning task templates (route planning, appearance order, view change, object matching, spatial relation,
navigation, area estimation, manipulation planning, obstacle location): rows validate, answers match truths
built into hand-made scenes, gates drop with their exact reasons, and solve() reproduces every stored answer."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from qa_templates.appearance_order import SIMULTANEOUS_APPEARANCE, AppearanceOrder
from qa_templates.area_estimation import AreaEstimation
from qa_templates.base import Drop, TaskTemplate
from qa_templates.gates import PARTIALLY_OBSERVED
from qa_templates.generate import _row_fields, task_rng
from qa_templates.manipulation_planning import RELATIONS, ManipulationPlanning, describe_plan
from qa_templates.motion_planning import Box, footprint_gap, path_collides
from qa_templates.navigation import NEAR_SECTOR_BOUNDARY, Navigation
from qa_templates.object_matching import SAME_FRAME, ObjectMatching
from qa_templates.obstacle_location import AMBIGUOUS_CLEARANCE, NOTHING, ObstacleLocation
from qa_templates.options import options_block
from qa_templates.route_planning import NEAR_TURN_BOUNDARY, RoutePlanning
from qa_templates.spatial_relation import AMBIGUOUS_GAP, PLAUSIBLE, SpatialRelation
from qa_templates.view_change import AMBIGUOUS_MOTION, TOO_LITTLE_MOTION, ViewChange
from schemas.annotations import CameraFrame, CameraTrack, Intrinsics
from schemas.facts import ObjectFact, SceneFacts
from schemas.qa import InputType, QARow
from schemas.tiers import ScaleTier
from tests.builders import look_at, orbit_track, scene_facts, tabletop_facts

INTRINSICS = Intrinsics(fx=460, fy=460, cx=256, cy=192, width=512, height=384)


def track(positions, targets) -> CameraTrack:
    frames = [CameraFrame(index=i, camera_to_world=tuple(map(tuple, look_at(p, t))))
              for i, (p, t) in enumerate(zip(positions, targets))]
    return CameraTrack(fps=6.0, intrinsics=INTRINSICS, frames=frames)


def pan_track(n_frames: int, step_deg: float, height: float = 1.5) -> CameraTrack:
    """A camera at the origin looking along +y, then turning right by `step_deg` per frame."""
    angles = np.radians(90.0 - step_deg * np.arange(n_frames))
    return track([(0.0, 0.0, height)] * n_frames, [(np.cos(a), np.sin(a), height) for a in angles])


def drive_track(n_frames: int = 10, step_m: float = 5.0) -> CameraTrack:
    """Driving along +y at 2 m height, looking straight ahead: the first frame is the canonical frame as is."""
    return track([(0.0, step_m * k, 2.0) for k in range(n_frames)],
                 [(0.0, step_m * k + 10.0, 2.0) for k in range(n_frames)])


def bearing(deg: float, distance: float, z: float, size, category: str):
    """An object `deg` to the left of +y (negative: right), `distance` from the origin."""
    a = np.radians(90.0 + deg)
    return category, (distance * np.cos(a), distance * np.sin(a), z), size, 0.0


def run(template: TaskTemplate, facts: SceneFacts, seed: int = 0) -> tuple[list[QARow], Counter]:
    """Validated rows (a validation error fails the test) and drops counted by reason; every stored answer
    must be what solve() gives for the row's objects and query."""
    rows, drops = [], Counter()
    for item in template.generate(facts, task_rng(seed, facts.scene.scene_id, template.task_type)):
        if isinstance(item, Drop):
            drops[item.reason] += 1
            continue
        row = QARow.model_validate(_row_fields(facts, "test-run", template.task_type, item))
        solved = template.solve(facts, tuple(row.object_ids), dict(row.query))
        if row.answer.kind == "numeric":
            assert row.answer.value_si == pytest.approx(solved)
        else:
            assert row.answer.correct_option == solved
            assert row.response.endswith(f"<answer>{row.answer.correct_letter}</answer>")
            assert row.question.endswith("\n" + options_block(row.answer.options))
        assert row.video_frame_numbers == [c.frame_index for c in facts.cameras]
        rows.append(row)
    return rows, drops


def by_category(facts: SceneFacts) -> dict[str, ObjectFact]:
    return {o.category: o for o in facts.objects}


# --- scenes ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def room() -> SceneFacts:
    """Sofa at the origin facing a TV 4 m along +y; a lamp 3 m to its left, a plant 21° to its right."""
    return scene_facts(ScaleTier.INDOOR, [
        ("sofa", (0.0, 0.0, 0.4), (2.0, 0.9, 0.8), 0.0),
        ("tv", (0.0, 4.0, 0.6), (1.2, 0.3, 0.7), 0.0),
        ("lamp", (-3.0, 0.0, 0.8), (0.4, 0.4, 1.6), 0.0),
        ("plant", (1.0, 2.6, 0.5), (0.4, 0.4, 1.0), 0.0),
        ("chair", (2.5, -1.5, 0.45), (0.5, 0.5, 0.9), 0.0),
    ], orbit_track(radius=9.0, height=3.0, target=(0.0, 1.0, 0.0), start_deg=-120.0, arc_deg=60.0))


@pytest.fixture(scope="module")
def panorama() -> SceneFacts:
    """A camera turning right 6° per frame: chair, lamp and vase in view from the start, then the plant,
    the sofa and the table come into view one after the other."""
    cube = (0.6, 0.6, 0.6)
    return scene_facts(ScaleTier.INDOOR, [
        bearing(0, 4.0, 0.3, cube, "chair"), bearing(9, 4.0, 0.3, (0.5, 0.5, 0.6), "lamp"),
        bearing(-9, 4.5, 0.3, (0.4, 0.4, 0.6), "vase"), bearing(-45, 4.0, 0.3, cube, "plant"),
        bearing(-75, 4.0, 0.3, cube, "sofa"), bearing(-105, 4.0, 0.3, cube, "table"),
    ], pan_track(16, 6.0))


@pytest.fixture(scope="module")
def street() -> SceneFacts:
    """Driving 45 m along +y past a car (ahead left at first) and a tree (ahead right at first)."""
    return scene_facts(ScaleTier.OUTDOOR, [
        ("car", (-15.0, 40.0, 0.75), (4.5, 1.8, 1.5), 0.0),
        ("tree", (12.0, 38.0, 4.0), (4.0, 4.0, 8.0), 0.0),
        ("truck", (8.0, 40.0, 1.5), (10.0, 2.5, 3.0), 90.0),
        ("bus", (-4.0, 70.0, 1.6), (12.0, 2.5, 3.2), 90.0),
        ("building", (-25.0, 60.0, 6.0), (20.0, 10.0, 12.0), 90.0),
    ], drive_track())


@pytest.fixture(scope="module")
def table() -> SceneFacts:
    """A cup, a box with a book on it between the cup and a bottle, a ball in a bowl, a shelf above a mug
    with a tin beside it, and a phone."""
    return scene_facts(ScaleTier.TABLETOP, [
        ("cup", (-0.3, 0.0, 0.05), (0.08, 0.08, 0.10), 0.0),
        ("box", (0.0, 0.02, 0.075), (0.12, 0.20, 0.15), 0.0),
        ("bottle", (0.3, 0.0, 0.12), (0.07, 0.07, 0.24), 0.0),
        ("bowl", (0.0, 0.35, 0.035), (0.16, 0.16, 0.07), 0.0),
        ("ball", (0.0, 0.35, 0.035), (0.05, 0.05, 0.05), 0.0),
        ("book", (0.0, 0.02, 0.165), (0.22, 0.15, 0.03), 90.0),
        ("phone", (-0.3, -0.3, 0.004), (0.15, 0.07, 0.008), 30.0),
        ("shelf", (0.3, -0.3, 0.40), (0.30, 0.15, 0.02), 0.0),
        ("mug", (0.3, -0.3, 0.05), (0.08, 0.08, 0.10), 0.0),
        ("tin", (0.42, -0.3, 0.05), (0.08, 0.08, 0.10), 0.0),
    ], orbit_track(radius=1.0, height=0.9))


# --- route planning -------------------------------------------------------------------------------------------

def test_route_planning_turns_and_distances(room):
    o = by_category(room)
    solve = RoutePlanning().solve
    assert solve(room, (o["sofa"].object_id, o["tv"].object_id, o["lamp"].object_id), {}) == \
        "turn left about 90° and walk about 3 m"
    assert solve(room, (o["lamp"].object_id, o["sofa"].object_id, o["tv"].object_id), {}) == \
        "turn left about 45° and walk about 5 m"
    assert solve(room, (o["tv"].object_id, o["plant"].object_id, o["sofa"].object_id), {}).startswith(
        "turn right about 45°")
    rows, drops = run(RoutePlanning(), room)
    assert rows and drops[NEAR_TURN_BOUNDARY] > 0
    assert {r.input_type for r in rows} >= {InputType.TEXT}
    for row in rows:
        assert len(row.object_ids) == 3 and len(row.answer.options) == 4
        assert all(option.endswith(" m") for option in row.answer.options)


def test_route_planning_flies_in_drone_scenes():
    facts = scene_facts(ScaleTier.DRONE, [
        ("field", (0.0, 0.0, 0.15), (200.0, 100.0, 0.3), 20.0),
        ("building", (150.0, 80.0, 10.0), (30.0, 20.0, 20.0), 0.0),
        ("pond", (-120.0, 60.0, 0.1), (60.0, 30.0, 0.2), 10.0),
        ("warehouse", (120.0, -100.0, 6.0), (50.0, 30.0, 12.0), 0.0),
    ], orbit_track(radius=500.0, height=350.0, start_deg=-120.0, arc_deg=60.0))
    rows, _ = run(RoutePlanning(), facts)
    assert rows and all(" fly " in r.answer.correct_option or r.answer.correct_option.startswith("fly")
                        for r in rows)


# --- appearance order -----------------------------------------------------------------------------------------

def test_appearance_order_follows_first_sightings(panorama):
    o = by_category(panorama)
    assert [o[c].first_seen_frame for c in ("plant", "sofa", "table")] == sorted(
        o[c].first_seen_frame for c in ("plant", "sofa", "table"))
    names = {o[c].object_id: f"the {c}" for c in ("table", "chair", "sofa")}
    ids = (o["table"].object_id, o["chair"].object_id, o["sofa"].object_id)
    assert AppearanceOrder().solve(panorama, ids, {"names": json.dumps(names)}) == \
        "the chair, then the sofa, then the table"
    rows, drops = run(AppearanceOrder(), panorama)
    assert rows and drops[SIMULTANEOUS_APPEARANCE] > 0
    for row in rows:
        firsts = [next(x for x in panorama.objects if x.object_id == i).first_seen_frame for i in row.object_ids]
        assert firsts == sorted(firsts) and len(set(firsts)) == len(firsts)
        assert len(row.answer.options) == 4


# --- view change ----------------------------------------------------------------------------------------------

def test_view_change_turns_and_drives(panorama, street):
    assert ViewChange().solve(panorama, (), {"video_frame_a": "0", "video_frame_b": "5"}) == "turned right"
    assert ViewChange().solve(panorama, (), {"video_frame_a": "9", "video_frame_b": "2"}) == "turned left"
    assert ViewChange().solve(street, (), {"video_frame_a": "1", "video_frame_b": "6"}) == "moved forward"
    assert ViewChange().solve(street, (), {"video_frame_a": "8", "video_frame_b": "3"}) == "moved backward"
    rows, _ = run(ViewChange(), street)  # a straight drive offers two answers only: asked half and half
    assert Counter(r.answer.correct_option for r in rows) == {"moved forward": 3, "moved backward": 3}
    for row in rows:
        later = int(row.query["video_frame_b"]) > int(row.query["video_frame_a"])
        assert row.answer.correct_option == ("moved forward" if later else "moved backward")
    turns = np.radians([20, 40, 60, 80, 100])  # drive 25 m, then turn right on the spot
    corner = track([(0.0, 5.0 * k, 2.0) for k in range(6)] + [(0.0, 25.0, 2.0)] * 5,
                   [(0.0, 5.0 * k + 10.0, 2.0) for k in range(6)]
                   + [(10.0 * np.sin(a), 25.0 + 10.0 * np.cos(a), 2.0) for a in turns])
    car = [("car", (3.0, 40.0, 0.75), (4.5, 1.8, 1.5), 0.0)]
    rows, _ = run(ViewChange(), scene_facts(ScaleTier.OUTDOOR, car, corner))
    answers = Counter(r.answer.correct_option for r in rows)
    assert len(answers) >= 3 and max(answers.values()) <= 0.4 * len(rows), answers
    for row in rows:
        assert row.answer.correct_option in row.answer.options and not row.object_ids


def test_view_change_drops_small_and_mixed_motions():
    still = track([(0.0, 0.0, 1.5), (0.01, 0.0, 1.5)], [(0.0, 5.0, 1.5), (0.01, 5.0, 1.5)])
    facts = scene_facts(ScaleTier.INDOOR, [("chair", (0.0, 4.0, 0.45), (0.5, 0.5, 0.9), 0.0)], still)
    rows, drops = run(ViewChange(), facts)
    assert not rows and drops == Counter({TOO_LITTLE_MOTION: 2})  # frames 1→2 and 2→1
    _, drops = run(ViewChange(), tabletop_facts())  # an orbit turns and slides sideways together
    assert drops[AMBIGUOUS_MOTION] > 0


def test_view_change_drops_a_half_turn_as_neither_left_nor_right():
    about_turn = track([(0.0, 0.0, 1.5), (0.0, 0.0, 1.5)], [(0.0, 5.0, 1.5), (0.3, -5.0, 1.5)])  # 176.6°
    facts = scene_facts(ScaleTier.INDOOR, [("chair", (0.0, 4.0, 0.45), (0.5, 0.5, 0.9), 0.0)], about_turn)
    rows, drops = run(ViewChange(), facts)
    assert not rows and drops == Counter({AMBIGUOUS_MOTION: 2})


# --- object matching ------------------------------------------------------------------------------------------

def test_object_matching_marks_first_and_last_views_with_hard_negatives(panorama):
    rows, drops = run(ObjectMatching(), tabletop_facts())
    assert {r.answer.correct_option for r in rows} == {"yes", "no"}
    facts = tabletop_facts()
    objects = {o.object_id: o for o in facts.objects}
    for row in rows:
        a, b = (objects[i] for i in row.object_ids)
        assert (row.answer.correct_option == "yes") == (a.object_id == b.object_id)
        if a.category == "cup" and a.object_id != b.object_id:
            assert b.category == "cup"  # the other cup, not any object
        first = min(v.frame_index for v in a.observations)
        last = max(v.frame_index for v in b.observations)
        assert [p.frame for p in row.visual_prompts] == [
            [c.frame_index for c in facts.cameras].index(f) + 1 for f in (first, last)]
        assert row.input_type in (InputType.BBOX, InputType.POINT)
    _, drops = run(ObjectMatching(), panorama)
    assert drops[SAME_FRAME] == 1  # the lamp leaves view in the keyframe the plant enters it


# --- spatial relation -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("a, b, expected", [
    ("book", "box", "resting on top of"), ("box", "book", "supporting"), ("ball", "bowl", "inside"),
    ("shelf", "mug", "hanging above"), ("mug", "tin", "next to"), ("cup", "box", "near but not touching"),
    ("cup", "bottle", "far from"),
])
def test_spatial_relation_truths(table, a, b, expected):
    o = by_category(table)
    assert SpatialRelation().solve(table, (o[a].object_id, o[b].object_id), {}) == expected


def test_spatial_relation_rows_and_margins(table):
    rows, drops = run(SpatialRelation(), table)
    answers = {r.answer.correct_option for r in rows}
    assert len(answers) >= 4 and drops[AMBIGUOUS_GAP] > 0
    for row in rows:
        assert set(row.answer.options) - {row.answer.correct_option} <= set(PLAUSIBLE[row.answer.correct_option])
        if row.answer.correct_option == "hanging above":
            assert "near but not touching" not in row.answer.options
        if row.answer.correct_option in ("near but not touching", "far from"):
            assert not {"supporting", "resting on top of"} & set(row.answer.options)


def test_spatial_relation_contact_tolerance_scales_to_millimetre_parts():
    parts = scene_facts(ScaleTier.TINY_TABLETOP, [
        ("sd_card", (0.0, 0.0, 0.001), (0.032, 0.024, 0.002), 0.0),
        ("chip", (0.0, 0.0, 0.00275), (0.02, 0.02, 0.0015), 0.0),
        ("washer", (0.04, 0.0, 0.00075), (0.02, 0.02, 0.0015), 0.0),
        ("coin", (0.04, 0.0, 0.0045), (0.025, 0.025, 0.002), 0.0),  # 2 mm above the washer: not on it
    ], orbit_track(radius=0.15, height=0.12, target=(0.02, 0.0, 0.0)))
    o = by_category(parts)
    solve = SpatialRelation().solve
    assert solve(parts, (o["chip"].object_id, o["sd_card"].object_id), {}) == "resting on top of"
    assert solve(parts, (o["coin"].object_id, o["washer"].object_id), {}) == "hanging above"


# --- navigation -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("target, frame, expected", [
    ("car", 4, "ahead and to the left"), ("car", 9, "behind you on the left"), ("tree", 0, "straight ahead"),
    ("tree", 6, "ahead and to the right"), ("tree", 9, "behind you on the right"),
])
def test_navigation_sectors(street, target, frame, expected):
    ids = (by_category(street)[target].object_id,)
    assert Navigation().solve(street, ids, {"video_frame": str(frame)}) == expected


def test_navigation_rows_and_margin(street):
    rows, drops = run(Navigation(), street)
    assert rows and drops[NEAR_SECTOR_BOUNDARY] > 0
    for row in rows:
        assert len(row.answer.options) == 5 and set(row.query) == {"video_frame"}


# --- area estimation ------------------------------------------------------------------------------------------

def test_area_estimation_of_fields_ponds_and_roofs():
    facts = scene_facts(ScaleTier.DRONE, [
        ("field", (0.0, 0.0, 0.15), (200.0, 100.0, 0.3), 20.0),
        ("building", (150.0, 80.0, 10.0), (30.0, 20.0, 20.0), 0.0),
        ("pond", (-120.0, 60.0, 0.1), (60.0, 30.0, 0.2), 10.0),
        ("truck", (-60.0, -90.0, 1.5), (12.0, 3.0, 3.0), 0.0),
    ], orbit_track(radius=500.0, height=350.0, start_deg=-120.0, arc_deg=60.0))
    rows, _ = run(AreaEstimation(), facts)
    by_id = {o.object_id: o.category for o in facts.objects}
    areas = {by_id[r.object_ids[0]]: (r.answer.value_si, r.template_id.split("/")[0]) for r in rows}
    assert areas == {"field": (pytest.approx(20000.0), "area"), "building": (pytest.approx(600.0), "roof"),
                     "pond": (pytest.approx(1800.0), "area")}
    assert all(r.answer.unit.value == "m2" and r.response.endswith(" m²</answer>") for r in rows)
    half_seen = facts.model_copy(update={"objects": [o.model_copy(update={"footprint_coverage": 0.3, "from_box": False})
                                                     if o.category == "pond" else o for o in facts.objects]})
    _, drops = run(AreaEstimation(), half_seen)
    assert drops == Counter({PARTIALLY_OBSERVED: 1})


# --- motion planning ------------------------------------------------------------------------------------------

def test_path_collides_is_exact_for_turned_boxes_and_allows_contact():
    diamond = Box((0.0, 0.0, 0.05), (0.2, 0.2, 0.1), 45.0)  # its axis-aligned bounds reach ±0.1414
    small = (0.02, 0.02, 0.1)
    clear = 0.1414 + 0.05  # a path along x + y = clear passes 3.5 cm from the diamond's face
    assert not path_collides([(-0.05, clear + 0.05, 0.05), (clear + 0.05, -0.05, 0.05)], small, [diamond])
    grazing = 0.1414 + 0.01
    assert path_collides([(-0.05, grazing + 0.05, 0.05), (grazing + 0.05, -0.05, 0.05)], small, [diamond])
    long_box = Box((0.0, 0.25, 0.05), (0.3, 0.02, 0.1), 90.0)  # turned: 30 cm along y, 2 cm along x
    assert not path_collides([(0.25, 0.25, 0.05), (0.25, -0.25, 0.05)], long_box, [diamond])
    assert path_collides([(0.25, 0.25, 0.05), (0.25, -0.25, 0.05)], (0.3, 0.02, 0.1), [diamond])
    lid = Box((0.0, 0.0, 0.11), (0.1, 0.1, 0.02))  # resting on the diamond: lifting it off is fine
    assert not path_collides([(0.0, 0.0, 0.11), (0.0, 0.0, 0.3)], lid, [diamond])
    assert path_collides([(0.0, 0.0, 0.11), (0.0, 0.0, 0.09)], lid, [diamond])


def test_describe_plan_words_each_straight_move():
    plan = [(0.0, 0.0, 0.05), (0.0, 0.0, 0.07), (0.30, 0.0, 0.07), (0.30, 0.12, 0.07), (0.30, 0.12, 0.05)]
    assert describe_plan(plan, ScaleTier.TABLETOP) == (
        "Lift it about 2 cm, then move it about 30 cm to the right, then move it about 12 cm farther back, "
        "then set it down")
    assert describe_plan([(0.0, 0.0, 0.001), (-0.004, -0.02, 0.001)], ScaleTier.TINY_TABLETOP) == \
        "Slide it about 4 mm to the left and 20 mm toward the front"


# --- manipulation planning ------------------------------------------------------------------------------------

def test_manipulation_plans_are_collision_free_and_end_beside_the_target(table):
    rows, drops = run(ManipulationPlanning(), table)
    assert rows and sum(drops.values()) > 0
    objects = {o.object_id: o for o in table.objects}
    for row in rows:
        moved, target = (objects[i] for i in row.object_ids)
        others = [o for o in table.objects if o is not moved]
        plan = np.asarray(json.loads(row.query["plan"]))
        assert np.allclose(plan[0], moved.center, atol=1e-6)
        assert not path_collides(plan, moved, others)
        assert path_collides([plan[0], plan[-1]], moved, others)  # the direct slide is blocked
        direction = np.array(RELATIONS[row.query["relation"]][0])
        offset = plan[-1][:2] - np.array(target.center[:2])
        assert offset @ direction > 0 and abs(offset @ direction[::-1]) <= 0.005  # rounded to whole cm as worded
        assert plan[-1][2] == plan[0][2] == pytest.approx(target.bottom_z + moved.size_lwh[2] / 2)
        assert footprint_gap(Box(tuple(plan[-1]), moved.size_lwh, moved.yaw_deg), Box.of(target)) > 0
        assert row.answer.correct_option.startswith("Lift it about") and "set it down" in row.answer.correct_option
    again, _ = run(ManipulationPlanning(), table)
    assert [r.query for r in again] == [r.query for r in rows]  # OMPL is seeded from the scene's generator


# --- obstacle location ----------------------------------------------------------------------------------------

def test_obstacle_location_finds_the_first_box_in_the_way(table):
    o = by_category(table)
    names = json.dumps({o[c].object_id: f"the {c}" for c in ("box", "book", "phone")})
    solve = ObstacleLocation().solve
    assert solve(table, (o["cup"].object_id, o["bottle"].object_id), {"names": names}) == "the box"
    # the tall bottle reaches the height of the book lying on the box, which overhangs the box on its side
    assert solve(table, (o["bottle"].object_id, o["cup"].object_id), {"names": names}) == "the book"
    assert solve(table, (o["phone"].object_id, o["cup"].object_id), {"names": names}) == NOTHING
    rows, _ = run(ObstacleLocation(), table)
    assert rows and NOTHING in {r.answer.correct_option for r in rows}
    for row in rows:
        assert NOTHING in row.answer.options
        if len(row.object_ids) == 3:
            assert row.answer.correct_option == json.loads(row.query["names"])[row.object_ids[2]]
            assert " from " in row.rationale and "after about" in row.rationale


def test_obstacle_location_drops_grazing_objects():
    facts = scene_facts(ScaleTier.TABLETOP, [
        ("cup", (-0.3, 0.0, 0.05), (0.08, 0.08, 0.10), 0.0),
        ("bottle", (0.3, 0.0, 0.12), (0.07, 0.07, 0.24), 0.0),
        ("jar", (0.0, 0.0815, 0.05), (0.08, 0.08, 0.10), 0.0),  # 1.5 mm from the cup's swept path
    ], orbit_track(radius=1.0, height=0.9))
    rows, drops = run(ObstacleLocation(), facts)
    assert drops[AMBIGUOUS_CLEARANCE] >= 2 and all(set(r.object_ids) != {facts.objects[0].object_id,
                                                                         facts.objects[1].object_id} for r in rows)
