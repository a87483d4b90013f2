"""Facts straight from exact annotations (3D boxes + cameras), without depth: for benchmark-grade scenes and
for exercising QA generation at scale. What a keyframe shows of each box is decided per pixel by casting every
box (facts/boxes.py: the nearest box hides the ones behind it), so a prompt never lands on another object."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facts.boxes import BoxView, box_scene_facts
from facts.canonical import canonical_from_world, yaw_in_canonical
from schemas.annotations import CameraTrack, OrientedBox, SceneAnnotation
from schemas.facts import CameraFact, Provenance, RoomFact, SceneFact, SceneFacts
from schemas.tiers import tier_from_extent


@dataclass(frozen=True)
class _AnnotatedBox:
    """An annotated gravity-aligned box in the shape facts/boxes.py casts (centre, full size, box-to-world)."""

    instance_id: int
    category: str
    center: np.ndarray
    size: np.ndarray
    rotation: np.ndarray

    @classmethod
    def of(cls, instance_id: int, category: str, box: OrientedBox) -> _AnnotatedBox:
        c, s = np.cos(np.radians(box.yaw_deg)), np.sin(np.radians(box.yaw_deg))
        return cls(instance_id, category, np.asarray(box.center, float), np.asarray(box.size, float),
                   np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]))

    def corners(self) -> np.ndarray:
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)
        return self.center + (signs * self.size / 2.0) @ self.rotation.T


def exact_scene_facts(scene: SceneAnnotation, track: CameraTrack, keyframes: list[int], video_id: str,
                      frame_paths: dict[int, str] | None = None) -> SceneFacts:
    """SceneFacts from annotated boxes; objects never seen (occlusion included) at ≥ 20×20 px are left out, and
    the sightings list every box that shows at all in a keyframe."""
    poses = {f.index: np.asarray(f.camera_to_world, dtype=float) for f in track.frames}
    canonical = canonical_from_world(poses[keyframes[0]], np.asarray(scene.up))
    k = track.intrinsics
    provenance = Provenance(depth="exact:boxes", poses="native:cameras.json", masks="exact:boxes")
    fps = track.fps
    cameras = [
        CameraFact(scene_id=scene.scene_id, video_id=video_id, frame_index=i, keyframe_rank=rank,
                   timestamp_s=i / fps, fx=k.fx, fy=k.fy, cx=k.cx, cy=k.cy, width=k.width, height=k.height,
                   camera_to_canonical=tuple((canonical @ poses[i]).ravel().tolist()),
                   frame_path=(frame_paths or {}).get(i, f"frames/{scene.scene_id}/{i:06d}.jpg"))
        for rank, i in enumerate(keyframes)
    ]
    boxes = [_AnnotatedBox.of(o.instance_id, o.category, o.box) for o in scene.objects]
    extent = _extent(scene)
    tier = scene.tier or tier_from_extent(extent)
    cast = box_scene_facts(scene.scene_id, tier, boxes,
                           [BoxView(i, poses[i], None) for i in keyframes], k, np.asarray(scene.up), True,
                           provenance, lambda mask: None)
    objects = cast.objects
    room = next((r for r in scene.regions if r.kind == "room"), None)
    room_fact = None
    if room is not None:
        length, width, height = room.box.size
        room_centre = canonical[:3, :3] @ np.asarray(room.box.center) + canonical[:3, 3]
        room_fact = RoomFact(floor_area_m2=length * width, length_m=max(length, width), width_m=min(length, width),
                             height_m=height, volume_m3=length * width * height,
                             center=(float(room_centre[0]), float(room_centre[1])),
                             yaw_deg=yaw_in_canonical(canonical, room.box.yaw_deg))
    fact = SceneFact(scene_id=scene.scene_id, video_id=video_id, source=scene.source,
                     scale=tier, tier_from="metadata" if scene.tier else "extent",
                     extent_m=extent, n_keyframes=len(cameras), n_objects=len(objects), fps=fps, room=room_fact,
                     provenance=provenance, sightings=cast.sightings, sightings_from="keyframes")
    return SceneFacts(scene=fact, objects=objects, cameras=cameras)


def _extent(scene: SceneAnnotation) -> float:
    """Horizontal diagonal over all object and region boxes."""
    boxes = [o.box for o in scene.objects] + [r.box for r in scene.regions]
    corners = np.concatenate([_AnnotatedBox.of(1, "", b).corners() for b in boxes])
    span = corners[:, :2].max(0) - corners[:, :2].min(0)
    return float(np.hypot(*span))
