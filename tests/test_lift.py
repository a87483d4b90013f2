"""Lifting native depth + masks + poses into metric facts, on rendered synthetic scenes with exact ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from facts.canonical import canonical_from_world
from facts.lift import FactsError, Keyframe, lift_scene
from facts.visibility import MIN_BOX_SIDE_PX
from schemas.facts import Provenance
from schemas.tiers import ScaleTier
from sources.synthetic import RenderSettings, SceneRenderer, build_scene
from sources.synthetic.generate import camera_track

SETTINGS = RenderSettings(num_frames=12)

NATIVE_PROVENANCE = Provenance(depth="native:annotated/depth.npz", poses="native:annotated/cameras.json",
                               masks="native:annotated/masks.npz")


def _render(tier: ScaleTier, seed: int = 0):
    scene = build_scene(tier, seed)
    track = camera_track(scene.camera_path.poses(SETTINGS.num_frames), SETTINGS)
    renderer = SceneRenderer(scene, SETTINGS.intrinsics())
    keyframes = []
    for frame in track.frames[::2]:
        pose = np.asarray(frame.camera_to_world)
        rendered = renderer.render(pose)
        keyframes.append(Keyframe(frame.index, rendered.depth, rendered.mask, pose))
    return scene.annotation, keyframes


def _lift(annotation, keyframes, tier=None, masks=None):
    k = SETTINGS.intrinsics()
    masks = masks if masks is not None else []
    return lift_scene(annotation.scene_id, tier, {o.instance_id: o.category for o in annotation.objects}, keyframes,
                      k, np.array(annotation.up), NATIVE_PROVENANCE,
                      lambda mask: masks.append(mask) or f"mask-{len(masks)}")


@pytest.fixture(scope="module")
def tabletop():
    return _render(ScaleTier.TABLETOP)


def test_complete_objects_match_ground_truth_boxes(tabletop):
    annotation, keyframes = tabletop
    lifted = _lift(annotation, keyframes, ScaleTier.TABLETOP)
    canonical = canonical_from_world(keyframes[0].camera_to_world, np.array(annotation.up))
    truth = {o.instance_id: o.box for o in annotation.objects}
    checked = 0
    for obj in lifted.objects:
        if obj.n_complete_views == 0 or obj.footprint_coverage < 0.7:
            continue
        box = truth[obj.instance_id]
        expected = sorted(box.size[:2], reverse=True) + [box.size[2]]
        np.testing.assert_allclose(obj.size_lwh, expected, rtol=0.04)
        centre = canonical[:3, :3] @ np.array(box.center) + canonical[:3, 3]
        assert np.linalg.norm(np.array(obj.center) - centre) < 0.03 * max(expected)
        checked += 1
    assert checked >= 3
    assert lifted.tier is ScaleTier.TABLETOP and lifted.tier_from == "metadata"
    assert 0.5 < lifted.extent_m < 3.0


def test_tier_from_extent_when_the_source_gives_none(tabletop):
    annotation, keyframes = tabletop
    lifted = _lift(annotation, keyframes, tier=None)
    assert lifted.tier is ScaleTier.TABLETOP and lifted.tier_from == "extent"


def test_observations_under_20_px_are_skipped_and_views_cut_by_the_border_are_incomplete(tabletop):
    annotation, keyframes = tabletop
    first = keyframes[0]
    ids = first.instance_ids.copy()
    ids[ids == 1] = 0
    ids[:10, :10] = 1  # object 1 is now a 10×10 px speck in the corner: skipped
    speck = Keyframe(first.frame_index, first.depth_m, ids, first.camera_to_world)
    lifted = _lift(annotation, [speck], ScaleTier.TABLETOP)
    assert 1 not in {o.instance_id for o in lifted.objects}
    for obj in lifted.objects:
        (obs,) = obj.observations
        x1, y1, x2, y2 = obs.bbox_xyxy
        assert x2 - x1 >= MIN_BOX_SIDE_PX and y2 - y1 >= MIN_BOX_SIDE_PX
        touches_border = x1 == 0 or y1 == 0 or x2 == SETTINGS.width or y2 == SETTINGS.height
        assert not (touches_border and obs.complete)


def test_nan_pixels_are_ignored_but_an_all_nan_frame_is_an_error(tabletop):
    annotation, keyframes = tabletop
    holes = [Keyframe(k.frame_index, np.where(np.indices(k.depth_m.shape)[1] % 7 == 0, np.nan, k.depth_m),
                      k.instance_ids, k.camera_to_world) for k in keyframes]
    assert _lift(annotation, holes, ScaleTier.TABLETOP).objects
    blank = Keyframe(keyframes[1].frame_index, np.full_like(keyframes[1].depth_m, np.nan),
                     keyframes[1].instance_ids, keyframes[1].camera_to_world)
    with pytest.raises(FactsError, match=f"frame {blank.frame_index}: depth has no valid value"):
        _lift(annotation, [keyframes[0], blank], ScaleTier.TABLETOP)


def test_depth_in_the_wrong_unit_is_caught(tabletop):
    annotation, keyframes = tabletop
    millimetres_read_as_metres = [Keyframe(k.frame_index, k.depth_m * 1000, k.instance_ids, k.camera_to_world)
                                  for k in keyframes]
    with pytest.raises(FactsError, match="implausible for tier tabletop"):
        _lift(annotation, millimetres_read_as_metres, ScaleTier.TABLETOP)


def test_room_floor_area_from_the_walls():
    annotation, keyframes = _render(ScaleTier.INDOOR)
    room = next(r for r in annotation.regions if r.kind == "room").box
    lifted = _lift(annotation, keyframes, ScaleTier.INDOOR)
    assert lifted.room is not None
    assert lifted.room.floor_area_m2 == pytest.approx(room.size[0] * room.size[1], rel=0.03)
