"""Facts straight from exact annotations (3D boxes + cameras), without depth: for benchmark-grade scenes and
for exercising QA generation at scale. Visibility is the box's projection (no occlusion reasoning)."""

from __future__ import annotations

import numpy as np

from facts.canonical import canonical_from_world, yaw_in_canonical
from schemas.annotations import CameraTrack, SceneAnnotation
from schemas.facts import CameraFact, ObjectFact, ObjectObservation, Provenance, RoomFact, SceneFact, SceneFacts
from schemas.tiers import tier_from_extent

MIN_BOX_SIDE_PX = 20


def exact_scene_facts(scene: SceneAnnotation, track: CameraTrack, keyframes: list[int], video_id: str,
                      frame_paths: dict[int, str] | None = None) -> SceneFacts:
    """SceneFacts from annotated boxes; objects whose projection is never ≥ 20×20 px are left out."""
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
    objects = []
    for ann in scene.objects:
        centre_world = np.asarray(ann.box.center, dtype=float)
        corners_world = _corners(centre_world, np.asarray(ann.box.size), ann.box.yaw_deg)
        observations = [obs for cam in cameras
                        if (obs := _observe(cam, (canonical[:3, :3] @ corners_world.T).T + canonical[:3, 3],
                                            canonical[:3, :3] @ centre_world + canonical[:3, 3])) is not None]
        if not observations:
            continue
        centre = canonical[:3, :3] @ centre_world + canonical[:3, 3]
        length, width, height = ann.box.size
        yaw = ann.box.yaw_deg if length >= width else ann.box.yaw_deg + 90.0
        objects.append(ObjectFact(
            scene_id=scene.scene_id, object_id=f"{scene.scene_id}/{ann.instance_id}", instance_id=ann.instance_id,
            category=ann.category, scale=scene.tier or tier_from_extent(_extent(scene)),
            center=tuple(centre.tolist()), size_lwh=(max(length, width), min(length, width), height),
            yaw_deg=yaw_in_canonical(canonical, yaw), bottom_z=float(centre[2] - height / 2),
            top_z=float(centre[2] + height / 2),
            height_px=height * track.intrinsics.fy / min(o.median_depth_m for o in observations), n_points=1,
            n_keyframes_seen=len(observations),
            n_complete_views=len(observations),
            first_seen_frame=observations[0].frame_index, footprint_coverage=1.0, observations=observations,
            provenance=provenance, from_box=True))
    extent = _extent(scene)
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
                     scale=scene.tier or tier_from_extent(extent), tier_from="metadata" if scene.tier else "extent",
                     extent_m=extent, n_keyframes=len(cameras), n_objects=len(objects), fps=fps, room=room_fact,
                     provenance=provenance)
    return SceneFacts(scene=fact, objects=objects, cameras=cameras)


def _corners(centre: np.ndarray, size: np.ndarray, yaw_deg: float) -> np.ndarray:
    yaw = np.radians(yaw_deg)
    axes = np.array([[np.cos(yaw), np.sin(yaw), 0.0], [-np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)
    return centre + (signs * size / 2.0) @ axes


def _observe(cam: CameraFact, corners: np.ndarray, centre: np.ndarray) -> ObjectObservation | None:
    pose = np.asarray(cam.camera_to_canonical).reshape(4, 4)
    local = (corners - pose[:3, 3]) @ pose[:3, :3]
    if (local[:, 2] <= 0).any():
        return None
    uv = np.stack([cam.fx * local[:, 0] / local[:, 2] + cam.cx, cam.fy * local[:, 1] / local[:, 2] + cam.cy], 1)
    x1, y1 = np.clip(uv.min(0), 0, [cam.width, cam.height])
    x2, y2 = np.clip(uv.max(0), 0, [cam.width, cam.height])
    if x2 - x1 < MIN_BOX_SIDE_PX or y2 - y1 < MIN_BOX_SIDE_PX:
        return None
    depth = float(((centre - pose[:3, 3]) @ pose[:3, :3])[2])
    return ObjectObservation(frame_index=cam.frame_index, bbox_xyxy=(float(x1), float(y1), float(x2), float(y2)),
                             point_xy=(float((x1 + x2) / 2), float((y1 + y2) / 2)),
                             pixel_count=int((x2 - x1) * (y2 - y1)), median_depth_m=max(depth, 1e-6), complete=True,
                             mask_path=None)


def _extent(scene: SceneAnnotation) -> float:
    """Horizontal diagonal over all object and region boxes."""
    corners = np.concatenate([_corners(np.asarray(b.center), np.asarray(b.size), b.yaw_deg)
                              for b in [o.box for o in scene.objects] + [r.box for r in scene.regions]])
    span = corners[:, :2].max(0) - corners[:, :2].min(0)
    return float(np.hypot(*span))
