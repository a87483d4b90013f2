"""Exact answers recomputed with plain numpy from a generated scene's truth (boxes, poses, masks), never through
the facts code: what the ground-truth tests hold QA rows against."""

from __future__ import annotations

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
    def from_scene_dir(cls, scene_dir) -> GroundTruth:
        """The truth the synthetic generator writes beside an annotated scene."""
        with np.load(scene_dir / "masks.npz", allow_pickle=False) as archive:
            masks = archive["masks"]
        return cls(SceneAnnotation.model_validate_json((scene_dir / "scene.json").read_text()),
                   CameraTrack.model_validate_json((scene_dir / "cameras.json").read_text()), masks)

    def size(self, object_id: str, dimension: str) -> float:
        size = self.boxes[object_id].box.size
        return float(max(size)) if dimension == "longest" else float(size[2])

    def centre(self, object_id: str) -> np.ndarray:
        return np.asarray(self.boxes[object_id].box.center)

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
            return float(np.linalg.norm(self.centre(ids[0]) - self.centre(ids[1])))
        if task == "depth_estimation":
            return self.depth(ids[0], int(query["frame_index"]))
        if task == "rotation_estimation":
            return self.rotation(int(query["frame_a"]), int(query["frame_b"]))
        if task == "object_counting":
            return float(self.visible_count(query["category"], row["frame_indices"]))
        if task == "room_size":
            return self.room(query["measure"])
        if task == "area_estimation":
            return self.footprint(ids[0])
        raise KeyError(task)
