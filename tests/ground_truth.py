"""Exact answers recomputed with plain numpy from a generated scene's truth (boxes, poses, masks), never through
the facts code: what the ground-truth tests hold QA rows against."""

from __future__ import annotations

import re

import numpy as np

from schemas.annotations import CameraTrack, SceneAnnotation

NUMERIC_TASKS = {"object_size", "absolute_distance", "depth_estimation", "room_size", "area_estimation",
                 "rotation_estimation", "object_counting"}


class GroundTruth:
    """One scene's exact annotations, in world coordinates."""

    def __init__(self, scene: SceneAnnotation, track: CameraTrack, masks: np.ndarray, scene_id: str | None = None):
        """`scene_id`: the id the pipeline gave the scene, when it differs from the annotation's."""
        self.scene, self.track, self.masks = scene, track, masks
        self.boxes = {f"{scene_id or scene.scene_id}/{o.instance_id}": o for o in scene.objects}
        self.poses = {f.index: np.asarray(f.camera_to_world) for f in track.frames}

    @classmethod
    def from_scene_dir(cls, scene_dir, scene_id: str | None = None) -> GroundTruth:
        """The truth the synthetic generator writes beside an annotated scene (`scene_id`: as in __init__)."""
        with np.load(scene_dir / "masks.npz", allow_pickle=False) as archive:
            masks = archive["masks"]
        return cls(SceneAnnotation.model_validate_json((scene_dir / "scene.json").read_text()),
                   CameraTrack.model_validate_json((scene_dir / "cameras.json").read_text()), masks, scene_id)

    def size(self, object_id: str, dimension: str) -> float:
        size = self.boxes[object_id].box.size
        return float(max(size)) if dimension == "longest" else float(size[2])

    def centre(self, object_id: str) -> np.ndarray:
        return np.asarray(self.boxes[object_id].box.center)

    def closest_distance(self, a: str, b: str) -> float:
        """Closest distance between two annotated boxes (see `box_distance`)."""
        return box_distance(*(self.boxes[i].box for i in (a, b)))

    def depth(self, object_id: str, frame: int) -> float:
        pose = self.poses[frame]
        return float(((self.centre(object_id) - pose[:3, 3]) @ pose[:3, :3])[2])

    def rotation(self, frame_a: int, frame_b: int) -> float:
        r = self.poses[frame_a][:3, :3].T @ self.poses[frame_b][:3, :3]
        return float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1))))

    def visible_count(self, category: str, keyframes: list[int]) -> int:
        """Instances of `category` whose mask box is ≥ 20×20 px in at least one keyframe."""
        count = 0
        for obj in self.scene.objects:
            if obj.category != category:
                continue
            for frame in keyframes:
                ys, xs = np.nonzero(self.masks[frame] == obj.instance_id)
                if len(xs) and xs.max() + 1 - xs.min() >= 20 and ys.max() + 1 - ys.min() >= 20:
                    count += 1
                    break
        return count

    def room(self, measure: str) -> float:
        room = next(r for r in self.scene.regions if r.kind == "room")
        length, width, height = room.box.size
        return length * width * (height if measure == "volume" else 1.0)

    def footprint(self, object_id: str) -> float:
        size = self.boxes[object_id].box.size
        return float(size[0] * size[1])

    def numeric(self, row: dict) -> float:
        task, ids, query = row["task_type"], row["object_ids"], dict(row["query"])
        if task == "object_size":
            return self.size(ids[0], query["dimension"])
        if task == "absolute_distance":
            if query.get("between") == "centres":
                return float(np.linalg.norm(self.centre(ids[0]) - self.centre(ids[1])))
            return self.closest_distance(ids[0], ids[1])
        if task == "depth_estimation":
            return self.depth(ids[0], int(query["video_frame"]))
        if task == "rotation_estimation":
            return self.rotation(int(query["video_frame_a"]), int(query["video_frame_b"]))
        if task == "object_counting":
            return float(self.visible_count(query["category"], row["video_frame_numbers"]))
        if task == "room_size":
            return self.room(query["measure"])
        if task == "area_estimation":
            return self.footprint(ids[0])
        raise KeyError(task)


def box_frame(box) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre, rotation (columns: the box's length, width and up axes) and half sizes of an annotated box."""
    yaw = np.radians(box.yaw_deg)
    rotation = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0.0, 0.0, 1.0]])
    return np.asarray(box.center, float), rotation, np.asarray(box.size, float) / 2.0


def box_distance(a, b) -> float:
    """Closest distance between two oriented boxes, by their features: 0 when no separating axis exists among
    the 15 of two boxes, else the least of every corner's distance to the other box and of every pair of edges'
    distance (the closest points of disjoint convex polytopes lie on a corner-face or an edge-edge pair)."""
    frames = [box_frame(a), box_frame(b)]
    if not _separated(*frames):
        return 0.0
    corners = [_corners(*f) for f in frames]
    edges = [_edges(c) for c in corners]
    to_box = [_point_box_distance(p, *frames[1 - k]) for k in (0, 1) for p in corners[k]]
    between_edges = [_segment_distance(*e, *f) for e in edges[0] for f in edges[1]]
    return float(min(to_box + between_edges))


def _corners(centre, rotation, half) -> np.ndarray:
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
    return centre + (signs * half) @ rotation.T


def _edges(corners: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Corner pairs differing in exactly one sign (the corner order of `_corners`): the 12 edges."""
    return [(corners[i], corners[j]) for i in range(8) for j in range(i + 1, 8) if bin(i ^ j).count("1") == 1]


def _separated(frame_a, frame_b) -> bool:
    (ca, ra, ha), (cb, rb, hb) = frame_a, frame_b
    axes = [*ra.T, *rb.T] + [np.cross(u, v) for u in ra.T for v in rb.T]
    for axis in axes:
        norm = np.linalg.norm(axis)
        if norm < 1e-9:
            continue
        axis = axis / norm
        reach = np.abs(ra.T @ axis) @ ha + np.abs(rb.T @ axis) @ hb
        if abs((cb - ca) @ axis) > reach:
            return True
    return False


def _point_box_distance(point, centre, rotation, half) -> float:
    local = rotation.T @ (point - centre)
    return float(np.linalg.norm(np.maximum(np.abs(local) - half, 0.0)))


def _segment_distance(p1, q1, p2, q2) -> float:
    """Distance between segments p1q1 and p2q2 (closest points by clamped parameters, parallel case included)."""
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a, e, f = d1 @ d1, d2 @ d2, d2 @ r
    c, b = d1 @ r, d1 @ d2
    denom = a * e - b * b
    s = float(np.clip((b * f - c * e) / denom, 0.0, 1.0)) if denom > 1e-12 * a * e else 0.0
    t = (b * s + f) / e
    if t < 0.0 or t > 1.0:
        t = float(np.clip(t, 0.0, 1.0))
        s = float(np.clip((t * b - c) / a, 0.0, 1.0))
    return float(np.linalg.norm((p1 + s * d1) - (p2 + t * d2)))


PLAN_UNITS = {"mm": 0.001, "cm": 0.01}
PLAN_DIRECTIONS = {"to the right": (1, 0, 0), "to the left": (-1, 0, 0), "farther back": (0, 1, 0),
                   "toward the front": (0, -1, 0)}
_AMOUNT = r"(\d+) (mm|cm)"
_MOVE = re.compile(rf"(?:slide|move) it about {_AMOUNT} ({'|'.join(PLAN_DIRECTIONS)})"
                   rf"(?: and {_AMOUNT} ({'|'.join(PLAN_DIRECTIONS)}))?(?:, (raising|lowering) it about {_AMOUNT})?$")
_VERTICAL = re.compile(rf"(lift|lower) it about {_AMOUNT}$")


def execute_plan_text(text: str, start) -> list[np.ndarray]:
    """The waypoints of a manipulation option read literally, from the moved box's centre `start`: each step
    moves by exactly the amounts it says; 'set it down' lowers it back to its starting height."""
    point = np.asarray(start, float)
    path = [point]
    for step in (s[0].lower() + s[1:] for s in text.split(", then ")):
        offset = np.zeros(3)
        if step == "set it down":
            offset[2] = start[2] - point[2]
        elif match := _VERTICAL.match(step):
            offset[2] = (1 if match[1] == "lift" else -1) * int(match[2]) * PLAN_UNITS[match[3]]
        elif match := _MOVE.match(step):
            amount1, unit1, dir1, amount2, unit2, dir2, vertical, amount3, unit3 = match.groups()
            offset += int(amount1) * PLAN_UNITS[unit1] * np.array(PLAN_DIRECTIONS[dir1])
            if amount2:
                offset += int(amount2) * PLAN_UNITS[unit2] * np.array(PLAN_DIRECTIONS[dir2])
            if vertical:
                offset[2] = (1 if vertical == "raising" else -1) * int(amount3) * PLAN_UNITS[unit3]
        else:
            raise ValueError(f"cannot read plan step {step!r} of {text!r}")
        point = point + offset
        path.append(point)
    return path


def overlap_depth(moved_frame, obstacle_frame) -> float:
    """How deep two oriented boxes overlap: the least overlap of their projections over the 15 separating axes
    (negative when some axis separates them)."""
    centre, rotation, half = moved_frame
    return float(_overlap_depths(np.asarray(centre, float)[None, :], rotation, half, obstacle_frame)[0])


def sweep_depth(path, moved_box, obstacles, step_m: float) -> float:
    """The deepest overlap of the moved box (translated, never turned) with any obstacle box, sampled every
    `step_m` along the path."""
    _, rotation, half = box_frame(moved_box)
    centres = np.concatenate([p + np.linspace(0.0, 1.0, max(2, int(np.ceil(np.linalg.norm(q - p) / step_m)) + 1))
                              [:, None] * (q - p) for p, q in zip(path[:-1], path[1:])])
    return float(max(_overlap_depths(centres, rotation, half, box_frame(o)).max() for o in obstacles))


def _overlap_depths(centres: np.ndarray, rotation, half, obstacle_frame) -> np.ndarray:
    """overlap_depth of the moved box placed at each of `centres` (n, 3)."""
    cb, rb, hb = obstacle_frame
    axes = np.array([a / np.linalg.norm(a) for a in [*rotation.T, *rb.T]
                     + [np.cross(u, v) for u in rotation.T for v in rb.T] if np.linalg.norm(a) > 1e-9])
    reach = np.abs(axes @ rotation) @ half + np.abs(axes @ rb) @ hb
    return (reach[None, :] - np.abs((cb - centres) @ axes.T)).min(axis=1)
