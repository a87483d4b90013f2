"""Facts from native 3D boxes: exact sizes, and per-pixel visibility that an unannotated occluder (seen only in the
sensor depth, dense or LiDAR-sparse) takes away, so a prompt lands only where the object is seen."""

from __future__ import annotations

import numpy as np
import pytest

from facts.boxes import BoxView, _ray_box, box_scene_facts
from schemas.annotations import Intrinsics
from schemas.facts import Provenance
from schemas.tiers import ScaleTier
from sources.contract import NativeBox

K = Intrinsics(fx=200.0, fy=200.0, cx=160.0, cy=120.0, width=320, height=240)
CAMERA = np.array([[1.0, 0, 0, 0], [0, 0, 1.0, 0], [0, -1.0, 0, 1.0], [0, 0, 0, 1]])  # at z = 1 m, looking along +y
PROVENANCE = Provenance(depth="native:test", poses="native:test", masks="native:test/boxes")


def _yawed(instance: int, centre, size, yaw_deg: float = 0.0) -> NativeBox:
    c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    return NativeBox(instance, "cabinet", np.asarray(centre, float), np.asarray(size, float),
               np.array([[c, -s, 0], [s, c, 0], [0, 0, 1.0]]))


CABINET = _yawed(1, (0.0, 5.0, 1.0), (1.2, 0.6, 2.0), 30.0)
WALL = _yawed(99, (-1.0, 3.0, 1.0), (2.0, 0.1, 4.0))  # covers the left of the view, nearer than the cabinet


def _sensor_depth(boxes) -> np.ndarray:
    u, v = np.meshgrid(np.arange(K.width) + 0.5, np.arange(K.height) + 0.5)
    rays = np.stack([(u - K.cx) / K.fx, (v - K.cy) / K.fy, np.ones_like(u)], axis=-1) @ CAMERA[:3, :3].T
    depth = np.min([_ray_box(CAMERA[:3, 3], rays, box) for box in boxes], axis=0)
    return np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)


def _facts(depth, dense=True, boxes=(CABINET,)):
    masks = []
    facts = box_scene_facts("s", ScaleTier.INDOOR, list(boxes), [BoxView(0, CAMERA, depth), BoxView(1, CAMERA, depth)],
                            K, np.array([0, 0, 1.0]), dense, PROVENANCE, lambda m: masks.append(m) or "mask.png")
    return facts, masks


def test_sizes_centre_and_yaw_are_the_boxes():
    facts, _ = _facts(None)
    (obj,) = facts.objects
    assert obj.size_lwh == pytest.approx((1.2, 0.6, 2.0)) and obj.from_box
    assert obj.center == pytest.approx((0.0, 5.0, 0.0), abs=1e-9)  # canonical: first camera at the origin
    assert obj.yaw_deg == pytest.approx(30.0) and obj.observations[0].complete


@pytest.mark.parametrize("dense", [True, False])
def test_an_unannotated_occluder_in_the_depth_hides_what_it_covers(dense):
    depth = _sensor_depth([CABINET, WALL])
    if not dense:  # LiDAR-like: one sample in every 4×4 block
        sparse = np.zeros_like(depth)
        sparse[::4, ::4] = depth[::4, ::4]
        depth = sparse
    facts, masks = _facts(depth, dense)
    (obj,) = facts.objects
    unoccluded, _ = _facts(None)
    seen, whole = obj.observations[0], unoccluded.objects[0].observations[0]
    wall_edge_u = K.cx + K.fx * (WALL.center[0] + WALL.size[0] / 2) / (WALL.center[1] - WALL.size[1] / 2)
    assert not seen.complete and seen.pixel_count < whole.pixel_count
    assert seen.bbox_xyxy[0] >= wall_edge_u - 1 and seen.point_xy[0] > wall_edge_u  # the prompt is on seen pixels
    assert not masks[0][:, : int(wall_edge_u) - 1].any()


def test_a_box_wholly_behind_an_occluder_is_not_observed():
    hidden = _yawed(2, (-1.6, 6.0, 1.0), (1.0, 1.0, 1.0))  # 33 px wide: seen, were it not for the wall
    facts, _ = _facts(_sensor_depth([CABINET, WALL, hidden]), boxes=(CABINET, hidden))
    (obj,) = facts.objects
    assert obj.instance_id == 1


def test_the_nearer_of_two_annotated_boxes_hides_the_farther():
    front = _yawed(3, (0.0, 3.0, 1.0), (0.6, 0.4, 3.0))  # a pillar in front of the cabinet's middle
    facts, _ = _facts(None, boxes=(CABINET, front))
    cabinet = next(o for o in facts.objects if o.instance_id == 1).observations[0]
    x1, _, x2, _ = cabinet.bbox_xyxy
    pillar_u = (K.cx - K.fx * 0.3 / 2.8, K.cx + K.fx * 0.3 / 2.8)
    assert not cabinet.complete and not pillar_u[0] < cabinet.point_xy[0] < pillar_u[1] and x1 < pillar_u[0] < x2
