"""Source for the annotated scene layout (schemas/annotations.py): video or frames + depth + masks + poses.

The synthetic generator writes this layout. Its scene.json boxes are the generator's exact truth, kept for the
benchmark and for checking answers; facts are lifted from the native depth and masks like any RGB-D source's, so
this source does not offer boxes. Intrinsics follow the project's convention: pixel (u, v) has its centre at
(u + 0.5, v + 0.5).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from schemas.annotations import (CAMERAS_FILE, DEPTH_FILE, FRAMES_DIR, MASKS_FILE, SCENE_FILE, VIDEO_FILE, CameraTrack,
                                 SceneAnnotation)
from schemas.paths import inside_root
from sources.contract import (ROTATION_TOLERANCE, KeyframePolicy, Modality, SceneInputs, Source, SourceError,
                              checked_intrinsics, register_source)
from sources.discovery import VideoItem, folder_scene_id, walk
from sources.video_decode import decode_frames, decode_images, frame_files, probe_frames, probe_video

SOURCE = "annotated"
DEPTH_UNIT_IN_M = {"m": 1.0, "cm": 0.01, "mm": 0.001}


class AnnotationError(SourceError):
    """Annotations that are missing or inconsistent; the message names the file and the problem."""


@dataclass(frozen=True)
class NativeAnnotations:
    """A scene's annotations at its keyframes, in metres."""

    scene: SceneAnnotation
    track: CameraTrack
    depth_m: np.ndarray  # [K, H, W] float32
    instance_ids: np.ndarray  # [K, H, W] uint16
    frame_instance_ids: np.ndarray  # [n_frames, H, W] uint16: every frame's, for visibility over the whole video
    camera_to_world: np.ndarray  # [K, 4, 4]


@register_source
class AnnotatedSource(Source):
    name = SOURCE
    native = frozenset({Modality.INTRINSICS, Modality.POSES, Modality.DEPTH, Modality.INSTANCES,
                        Modality.CATEGORIES, Modality.GRAVITY, Modality.METRIC})
    description = "SpaceVista's annotated layout (scene.json, cameras.json, depth.npz, masks.npz beside a video)"

    def detect(self, root: Path) -> bool:
        return any(path.name == SCENE_FILE for path in walk(root))

    def discover(self, root: Path) -> Iterator[VideoItem]:
        return discover(root)

    def read(self, root: Path, item: VideoItem, policy: KeyframePolicy) -> SceneInputs:
        scene_dir = item.annotations_dir
        path = inside_root(root, item.path)
        frames = [inside_root(root, frame) for frame in frame_files(path)] if path.is_dir() else None
        probe = probe_video(path) if frames is None else probe_frames(frames, frame_rate(root, scene_dir), path)
        keyframes = policy.select(probe.n_frames)
        native = load_annotations(root, scene_dir, keyframes, probe.n_frames)
        rgb = decode_frames(path, keyframes) if frames is None else decode_images(frames, keyframes)
        if rgb.shape[1:3] != native.depth_m.shape[1:]:
            raise AnnotationError(f"{path}: frames are {rgb.shape[2]}×{rgb.shape[1]}, {scene_dir / DEPTH_FILE}, "
                                  f"{scene_dir / MASKS_FILE} and {scene_dir / CAMERAS_FILE} intrinsics are "
                                  f"{native.depth_m.shape[2]}×{native.depth_m.shape[1]}")
        categories = {obj.instance_id: obj.category for obj in native.scene.objects}
        unlisted = sorted(set(np.unique(native.instance_ids).tolist()) - {0} - categories.keys())
        if unlisted:
            raise AnnotationError(f"{scene_dir / MASKS_FILE}: instance ids {unlisted} at the keyframes are not objects "
                                  f"of {scene_dir / SCENE_FILE}")
        where = f"native:{SOURCE}"
        return SceneInputs(
            scene_id=item.scene_id, source=native.scene.source, frame_indices=keyframes,
            timestamps_s=[i / probe.fps for i in keyframes], rgb=rgb, fps=probe.fps, n_frames=probe.n_frames,
            content=frames or [path], tier=native.scene.tier or item.tier,
            intrinsics=native.track.intrinsics, camera_to_world=native.camera_to_world, depth_m=native.depth_m,
            instance_ids=native.instance_ids, frame_instance_ids=native.frame_instance_ids, categories=categories,
            up=np.asarray(native.scene.up, dtype=float),
            provenance={Modality.INTRINSICS: f"{where}/{CAMERAS_FILE}", Modality.POSES: f"{where}/{CAMERAS_FILE}",
                        Modality.DEPTH: f"{where}/{DEPTH_FILE}", Modality.INSTANCES: f"{where}/{MASKS_FILE}",
                        Modality.CATEGORIES: f"{where}/{SCENE_FILE}", Modality.GRAVITY: f"{where}/{SCENE_FILE}",
                        Modality.METRIC: f"{where}/{CAMERAS_FILE}"})


def discover(root: Path) -> Iterator[VideoItem]:
    """Every folder under `root` holding a scene.json is one annotated scene (a symlinked one too: `vetted` then
    names it a repeat of its target, or its read refuses a target outside the data root); its video is video.mp4,
    or the frames/ folder when there is no video file. Its scene id is its path under `root`, folders joined by
    '__'."""
    for path in walk(root):
        if path.name == SCENE_FILE:
            scene_dir = path.parent
        elif path.is_dir() and (path / SCENE_FILE).is_file():
            scene_dir = path
        else:
            continue
        video = scene_dir / VIDEO_FILE
        if not video.exists() and (scene_dir / FRAMES_DIR).is_dir():
            video = scene_dir / FRAMES_DIR
        relative = scene_dir.relative_to(root).as_posix()
        yield VideoItem(uri=video.relative_to(root).as_posix(), path=video, source=SOURCE,
                        scene_id=folder_scene_id(relative) if relative != "." else root.resolve().name,
                        annotations_dir=scene_dir)


def load_annotations(root: Path, scene_dir: Path, keyframes: list[int], n_video_frames: int) -> NativeAnnotations:
    """Read and check a scene's annotations for the given keyframes."""
    scene = _model(inside_root(root, scene_dir / SCENE_FILE), SceneAnnotation)
    track = _model(inside_root(root, scene_dir / CAMERAS_FILE), CameraTrack)
    if len(track.frames) != n_video_frames:
        raise AnnotationError(f"{scene_dir / CAMERAS_FILE}: {len(track.frames)} poses for a video of "
                              f"{n_video_frames} frames")
    depth = _array(inside_root(root, scene_dir / DEPTH_FILE), "depth", n_video_frames)
    masks = _array(inside_root(root, scene_dir / MASKS_FILE), "masks", n_video_frames)
    if depth.shape != masks.shape:
        raise AnnotationError(f"{scene_dir}: depth {depth.shape} and masks {masks.shape} differ in shape")
    k = track.intrinsics
    checked_intrinsics(k.fx, k.fy, k.cx, k.cy, k.width, k.height, f"{scene_dir / CAMERAS_FILE}: intrinsics")
    size = (k.height, k.width)
    if depth.shape[1:] != size:
        raise AnnotationError(f"{scene_dir / DEPTH_FILE}: frames are {depth.shape[1:]}, intrinsics say {size}")
    poses = {f.index: np.asarray(f.camera_to_world, dtype=float) for f in track.frames}
    camera_to_world = np.stack([_checked_pose(poses, i, scene_dir / CAMERAS_FILE) for i in keyframes])
    return NativeAnnotations(
        scene=scene, track=track,
        depth_m=depth[keyframes].astype(np.float32) * DEPTH_UNIT_IN_M[track.depth_unit],
        instance_ids=masks[keyframes].astype(np.uint16), frame_instance_ids=masks.astype(np.uint16, copy=False),
        camera_to_world=camera_to_world)


def frame_rate(root: Path, scene_dir: Path) -> float:
    """The scene's fps from cameras.json (a frame folder has none of its own)."""
    return _model(inside_root(root, scene_dir / CAMERAS_FILE), CameraTrack).fps


def _model(path: Path, model):
    if not path.is_file():
        raise AnnotationError(f"{path}: missing")
    try:
        return model.model_validate(json.loads(path.read_text()))
    except json.JSONDecodeError as err:
        raise AnnotationError(f"{path}: not valid JSON ({err})") from None
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise AnnotationError(f"{path}: {where}: {first['msg']} ({err.error_count()} error(s))") from None


def _array(path: Path, key: str, n_frames: int) -> np.ndarray:
    if not path.is_file():
        raise AnnotationError(f"{path}: missing")
    try:
        with np.load(path, allow_pickle=False) as archive:
            if key not in archive:
                raise AnnotationError(f"{path}: no array named {key!r} (has {', '.join(archive.files)})")
            array = archive[key]
    except (ValueError, OSError) as err:
        raise AnnotationError(f"{path}: unreadable ({err})") from None
    if array.ndim != 3 or array.shape[0] != n_frames:
        raise AnnotationError(f"{path}: {key} has shape {array.shape}, expected [{n_frames}, H, W]")
    return array


def _checked_pose(poses: dict[int, np.ndarray], index: int, where: Path) -> np.ndarray:
    if index not in poses:
        raise AnnotationError(f"{where}: no pose for frame {index}")
    pose = poses[index]
    rotation = pose[:3, :3]
    if not np.isfinite(pose).all():
        raise AnnotationError(f"{where}: frame {index}: camera_to_world has non-finite values")
    error = float(np.abs(rotation.T @ rotation - np.eye(3)).max())
    if error > ROTATION_TOLERANCE or np.linalg.det(rotation) < 0:
        raise AnnotationError(f"{where}: frame {index}: camera_to_world[:3,:3] is not a rotation "
                              f"(max |RᵀR − I| = {error:.3g}, det = {np.linalg.det(rotation):.3g})")
    if not np.allclose(pose[3], [0, 0, 0, 1]):
        raise AnnotationError(f"{where}: frame {index}: last row of camera_to_world is {pose[3].tolist()}, "
                              f"not [0, 0, 0, 1]")
    return pose
