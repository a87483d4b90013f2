"""Questions true in their own words: what "appears in the video" is read from pixel-level visibility (sightings,
over every frame where the source has masks), and a count, an order or an existence answer that would hinge on an
instance shown too small to be sure of is dropped with its counted reason. Truth: exact boxes cast per pixel
(tests/box_views), never through facts/."""

from __future__ import annotations

import json

import numpy as np

from facts.exact import exact_scene_facts
from pipeline.fill import FilledScene
from pipeline.scene_facts import build_scene_facts
from facts.visibility import sightings_from_masks
from qa_templates.appearance_order import SHOWS_BEFORE_CLEAR, AppearanceOrder
from qa_templates.base import Drop
from qa_templates.existence import Existence
from qa_templates.gates import VISIBLE_TOO_SMALL
from qa_templates.object_counting import ObjectCounting
from schemas.annotations import (CameraFrame, CameraTrack, Intrinsics, ObjectAnnotation, OrientedBox,
                                 SceneAnnotation)
from schemas.ingest import FrameRow
from schemas.tiers import ScaleTier
from sources.contract import Modality, SceneInputs
from storage.layout import OutputLayout
from tests.box_views import cast, look_at

K = Intrinsics(fx=432, fy=432, cx=240, cy=180, width=480, height=360)


def _scene(tier: ScaleTier, objects: list[tuple[str, OrientedBox]], poses: list[np.ndarray]):
    annotation = SceneAnnotation(scene_id="s", tier=tier, objects=[
        ObjectAnnotation(instance_id=i + 1, category=c, box=b) for i, (c, b) in enumerate(objects)])
    track = CameraTrack(fps=6.0, intrinsics=K, frames=[
        CameraFrame(index=i, camera_to_world=tuple(map(tuple, p))) for i, p in enumerate(poses)])
    masks = {i: cast({o.instance_id: o.box for o in annotation.objects}, p, K, ground=False)[1]
             for i, p in enumerate(poses)}
    return annotation, track, masks


def _truth_firsts(masks: dict[int, np.ndarray], instance: int) -> tuple[int, int | None]:
    """(first frame with any pixel, first frame whose mask box is ≥ 20×20 px) from the per-pixel truth."""
    any_pixel, clear = None, None
    for frame in sorted(masks):
        ys, xs = np.nonzero(masks[frame] == instance)
        if len(xs):
            any_pixel = frame if any_pixel is None else any_pixel
            if clear is None and min(xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()) >= 20:
                clear = frame
    return any_pixel, clear


def _street():
    """Four cars along a street seen from a car stopped at its side; the fourth is 120 m down the street."""
    cars = [("car", OrientedBox(center=(x, 9.0, 0.75), size=(4.5, 1.8, 1.5), yaw_deg=90.0))
            for x in (-3.0, 3.0)] + [
        ("car", OrientedBox(center=(9.0, 40.0, 0.75), size=(4.5, 1.8, 1.5))),
        ("car", OrientedBox(center=(-1.0, 125.0, 0.75), size=(4.5, 1.8, 1.5), yaw_deg=90.0)),
        ("building", OrientedBox(center=(-14.0, 30.0, 6.0), size=(10.0, 8.0, 12.0))),
        ("building", OrientedBox(center=(14.0, 30.0, 6.0), size=(10.0, 8.0, 12.0)))]
    poses = [look_at([0.3 * i, 0.0, 1.5], [0.3 * i, 40.0, 1.5]) for i in range(6)]
    return _scene(ScaleTier.OUTDOOR, cars, poses)


def test_a_car_seen_only_small_makes_the_count_a_dropped_question_not_a_wrong_answer():
    annotation, track, masks = _street()
    far = _truth_firsts(masks, 4)
    assert far[0] is not None and far[1] is None  # the far car shows in the video, never at 20×20 px
    visible_cars = sum(_truth_firsts(masks, o.instance_id)[0] is not None
                       for o in annotation.objects if o.category == "car")
    facts = exact_scene_facts(annotation, track, list(masks), "v")
    items = list(ObjectCounting().generate(facts, np.random.default_rng(0)))
    counts = [c.answer["value_si"] for c in items if not isinstance(c, Drop) and c.query["category"] == "car"]
    assert all(value == visible_cars for value in counts), (counts, visible_cars)  # old code: 3, truth 4
    assert Drop(VISIBLE_TOO_SMALL) in items
    sighting = next(s for s in facts.scene.sightings if s.instance_id == 4)
    assert sighting.first_frame == far[0] and sighting.first_clear_frame is None


def test_existence_is_not_asked_about_a_category_with_an_instance_too_small_to_place():
    annotation, track, masks = _street()
    facts = exact_scene_facts(annotation, track, list(masks), "v")
    items = list(Existence().generate(facts, np.random.default_rng(0)))
    assert not [c for c in items if not isinstance(c, Drop) and c.query["category"] == "car"]
    assert Drop(VISIBLE_TOO_SMALL) in items


def _pan():
    """A camera turning left to right over a table: objects enter over the right border, each first as a sliver."""
    objects = [("cup", OrientedBox(center=(np.cos(a) * 1.2, np.sin(a) * 1.2, 0.06), size=(0.1, 0.1, 0.12)))
               for a in np.radians([80.0, 50.0, 20.0, -10.0])]
    objects.append(("remote", OrientedBox(center=(np.cos(np.radians(65.0)) * 1.0, np.sin(np.radians(65.0)) * 1.0,
                                                  0.01), size=(0.2, 0.05, 0.02), yaw_deg=65.0)))
    poses = [look_at([0.0, 0.0, 0.45], [np.cos(a), np.sin(a), 0.05]) for a in np.radians(np.linspace(110, -30, 15))]
    return _scene(ScaleTier.TABLETOP, objects, poses)


def test_appearance_order_holds_for_both_first_any_pixel_and_first_clear_sight():
    annotation, track, masks = _pan()
    facts = exact_scene_facts(annotation, track, list(masks), "v")
    names = {o.object_id: o.instance_id for o in facts.objects}
    truth = {instance: _truth_firsts(masks, instance) for instance in names.values()}
    asked = 0
    for _ in range(5):
        for item in AppearanceOrder().generate(facts, np.random.default_rng(_)):
            if isinstance(item, Drop):
                continue
            instances = [names[i] for i in item.object_ids]
            by_any = sorted(instances, key=lambda i: truth[i][0])
            by_clear = sorted(instances, key=lambda i: truth[i][1])
            assert instances == by_any == by_clear, (item.question, {i: truth[i] for i in instances})
            assert all(truth[a][1] < truth[b][0] for a, b in zip(instances, instances[1:]))  # no overlap
            asked += 1
    assert asked > 0


def _remote_then_cup():
    """Walking up to a table while turning right: a remote lies ahead, 35×10 px from frame 0 but 20 px tall only
    from frame 9; a cup enters over the right border in frame 5 and is clear from frame 6."""
    objects = [("remote", OrientedBox(center=(0.0, 1.0, 0.03), size=(0.2, 0.06, 0.045))),
               ("cup", OrientedBox(center=(1.5, 0.9, 0.06), size=(0.1, 0.1, 0.12)))]
    poses = []
    for i in range(12):
        y, turn = -1.6 + 1.3 * i / 11, np.radians(100 - 40 * i / 11)
        poses.append(look_at([0.0, y, 0.35], [2 * np.cos(turn), y + 2 * np.sin(turn), 0.0]))
    return _scene(ScaleTier.TABLETOP, objects, poses)


def test_an_object_plainly_visible_before_it_is_20_px_tall_is_not_said_to_appear_later():
    annotation, track, masks = _remote_then_cup()
    assert _truth_firsts(masks, 1) == (0, 9) and _truth_firsts(masks, 2) == (5, 6)
    facts = exact_scene_facts(annotation, track, list(masks), "v")
    items = [item for seed in range(5) for item in AppearanceOrder().generate(facts, np.random.default_rng(seed))]
    orders = [item.object_ids for item in items if not isinstance(item, Drop)]
    assert ("s/2", "s/1") not in orders  # old code: "the cup, then the remote"; the remote shows from frame 0
    assert Drop(SHOWS_BEFORE_CLEAR) in items


def test_sightings_read_every_frame_where_the_source_has_masks():
    masks = np.zeros((6, 40, 60), np.uint16)
    masks[1, 5:8, 5:50] = 3  # a sliver in frame 1 (no keyframe)
    masks[2, 5:30, 5:30] = 3  # clear in frame 2
    masks[4, 0:2, 0:2] = 3  # small again in keyframe 4
    every = sightings_from_masks(enumerate(masks), {3: "remote"})
    keyframes = sightings_from_masks([(i, masks[i]) for i in (0, 4)], {3: "remote"})
    assert [(s.first_frame, s.first_clear_frame, s.n_frames) for s in every] == [(1, 2, 3)]
    assert [(s.first_frame, s.first_clear_frame, s.n_frames) for s in keyframes] == [(4, None, 1)]
    assert json.loads(every[0].model_dump_json())["category"] == "remote"


def test_lifted_facts_read_visibility_over_every_frame_of_the_source(tmp_path):
    """Keyframes look down the street; the frames between glance right, at a third car a keyframe never shows."""
    cars = {1: OrientedBox(center=(-3.0, 9.0, 0.75), size=(4.5, 1.8, 1.5), yaw_deg=90.0),
            2: OrientedBox(center=(3.0, 9.0, 0.75), size=(4.5, 1.8, 1.5), yaw_deg=90.0),
            3: OrientedBox(center=(14.0, 0.0, 0.75), size=(4.5, 1.8, 1.5))}
    poses = np.stack([look_at([0.3 * i, 0.0, 1.5], [40.0, 0.3 * i, 1.5] if i % 2 else [0.3 * i, 40.0, 1.5])
                      for i in range(6)])
    views = [cast(cars, pose, K) for pose in poses]
    keyframes = [0, 2, 4]
    assert _truth_firsts({i: ids for i, (_, ids) in enumerate(views)}, 3) == (1, 1)
    assert not any((views[i][1] == 3).any() for i in keyframes)
    inputs = SceneInputs(
        scene_id="street", source="annotated", frame_indices=keyframes, timestamps_s=[i / 6 for i in keyframes],
        rgb=np.zeros((3, K.height, K.width, 3), np.uint8), fps=6.0, n_frames=6, content=[], tier=ScaleTier.OUTDOOR,
        intrinsics=K, camera_to_world=poses[keyframes], depth_m=np.stack([views[i][0] for i in keyframes]),
        instance_ids=np.stack([views[i][1] for i in keyframes]), frame_instance_ids=np.stack([v[1] for v in views]),
        categories={i: "car" for i in cars}, up=np.array([0.0, 0.0, 1.0]),
        provenance={m: "native:test" for m in (Modality.INTRINSICS, Modality.POSES, Modality.DEPTH,
                                               Modality.INSTANCES, Modality.CATEGORIES, Modality.METRIC)})
    frames = [FrameRow(video_id="v", scene_id="street", frame_index=i, timestamp_s=i / 6, frame_sha256="0" * 64,
                       path=f"frames/{i}.png", width=K.width, height=K.height) for i in keyframes]
    facts = build_scene_facts(FilledScene(inputs), "v", frames, OutputLayout(tmp_path))
    assert facts.scene.sightings_from == "all_frames"
    assert {o.instance_id for o in facts.objects} == {1, 2}
    assert [(s.instance_id, s.first_frame) for s in facts.scene.sightings if s.instance_id == 3] == [(3, 1)]
    items = list(ObjectCounting().generate(facts, np.random.default_rng(0)))
    assert Drop(VISIBLE_TOO_SMALL) in items and not [c for c in items if not isinstance(c, Drop)]  # old: "2 cars"
