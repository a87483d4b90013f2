"""Curate one video: hash and probe → keyframes → native annotations → metric facts → QA.

A bad input stops its own video at the stage that found the problem and becomes a `failures` row naming the
input, the stage and the problem; rows from the stages it passed (its `videos`/`frames` rows) are kept.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from facts.lift import FactsError, Intrinsic, Keyframe, camera_facts, lift_scene
from pipeline.specialist_facts import SceneIdentity, Specialists, SpecialistsMissing, specialist_scene_facts
from qa_templates.generate import generate_scene_qa
from schemas.config import CurateConfig
from schemas.facts import Provenance, SceneFact, SceneFacts
from schemas.ingest import FrameRow, VideoRow
from schemas.runs import FailureRow
from sources import annotated
from sources.discovery import OutsideDataRootError, VideoItem, inside_root
from specialists.cache import SpecialistCache
from specialists.contract import SpecialistError
from specialists.scale_alignment import ScaleAlignmentError
from specialists.sfm import SfMError
from specialists.video_decode import (VideoDecodeError, VideoProbe, decode_frames, frame_files, probe_video,
                                      sample_keyframes)
from storage.artifacts import put_frame, put_mask
from storage.layout import OutputLayout

NATIVE = Provenance(depth=f"native:{annotated.SOURCE}/depth.npz", poses=f"native:{annotated.SOURCE}/cameras.json",
                    masks=f"native:{annotated.SOURCE}/masks.npz")


class StageError(RuntimeError):
    def __init__(self, stage: str, error: BaseException | str):
        self.stage = stage
        self.error_type = type(error).__name__ if isinstance(error, BaseException) else "MissingInput"
        super().__init__(str(error))


@dataclass
class VideoOutput:
    """Rows of every table produced for one video, plus QA gate drops counted per (task, reason) and the
    specialist cache's hits and misses per specialist."""

    rows: dict[str, list[BaseModel]] = field(default_factory=lambda: {})
    drops: Counter = field(default_factory=Counter)
    cache_hits: Counter = field(default_factory=Counter)
    cache_misses: Counter = field(default_factory=Counter)

    def add(self, table: str, rows: list[BaseModel]) -> None:
        self.rows.setdefault(table, []).extend(rows)


def curate_video(item: VideoItem, config: CurateConfig, layout: OutputLayout, run_id: str,
                 specialists: Specialists | None = None) -> VideoOutput:
    """A plain video (no annotations) gets its facts from `specialists`; without them it ends at stage `facts`."""
    out = VideoOutput()
    cache = SpecialistCache(layout)
    video_id = None
    try:
        path = _stage("discover", inside_root, config.data_root, item.path)
        video_id = _stage("probe", _sha256, path)
        fps = (_stage("annotations", annotated.frame_rate, config.data_root, item.annotations_dir)
               if path.is_dir() and item.annotations_dir else None)
        probe = _stage("probe", probe_video, path, fps)
        tier_specialists = specialists.for_tier(item.tier) if specialists and not item.annotations_dir else None
        stride = (tier_specialists and tier_specialists.profile.keyframe_stride) or config.keyframe_stride
        keyframes = sample_keyframes(probe.n_frames, stride, config.max_keyframes)
        frames, rgb = _stage("decode", _store_keyframes, path, keyframes, layout, video_id, item.scene_id, probe)
        out.add("videos", [VideoRow(video_id=video_id, source=item.source, uri=item.uri, scene_id=item.scene_id,
                                    size_bytes=_size_bytes(path), fps=probe.fps, n_frames=probe.n_frames,
                                    width=probe.width, height=probe.height, duration_s=probe.duration_s,
                                    has_native_annotations=item.annotations_dir is not None, run_id=run_id)])
        out.add("frames", frames)
        if item.annotations_dir is not None:
            native = _stage("annotations", annotated.load_annotations, config.data_root, item.annotations_dir,
                            keyframes, probe.n_frames)
            facts = _stage("facts", scene_facts_from_native, item, video_id, native, frames, layout)
        elif tier_specialists is None:
            raise StageError("facts", "no native depth, poses or masks; a plain video needs depth, detection and "
                                      "pose specialists, which this run does not have (see `--specialists`)")
        else:
            scene = SceneIdentity(scene_id=item.scene_id, video_id=video_id, source=item.source, fps=probe.fps,
                                  tier=item.tier)
            facts = _stage("facts", specialist_scene_facts, scene, rgb, frames, tier_specialists, layout, cache)
        out.add("scenes", [facts.scene])
        out.add("objects", facts.objects)
        out.add("cameras", facts.cameras)
        qa = _stage("qa", generate_scene_qa, facts, run_id, config.seed)
        out.add("qa", qa.rows)
        out.add("rejects", qa.rejects)
        out.drops.update(qa.drops)
    except StageError as err:
        out.add("failures", [FailureRow(run_id=run_id, uri=item.uri, scene_id=item.scene_id, video_id=video_id,
                                        stage=err.stage, error_type=err.error_type, message=str(err))])
        for table in ("scenes", "objects", "cameras", "qa", "rejects"):
            out.rows.pop(table, None)
    out.cache_hits, out.cache_misses = cache.hits, cache.misses
    return out


def _stage(stage: str, fn, *args):
    """Run one stage; expected input problems become a StageError tagged with the stage."""
    try:
        return fn(*args)
    except (OSError, VideoDecodeError, OutsideDataRootError, annotated.AnnotationError, FactsError,
            SpecialistsMissing, SpecialistError, SfMError, ScaleAlignmentError) as err:
        raise StageError(stage, err) from err


def _sha256(path: Path) -> str:
    """Content hash of a video file, or of a frame folder's images (names and bytes, in order)."""
    digest = hashlib.sha256()
    for file in frame_files(path) if path.is_dir() else [path]:
        if path.is_dir():
            digest.update(file.name.encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _size_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in frame_files(path)) if path.is_dir() else path.stat().st_size


def _store_keyframes(path: Path, keyframes: list[int], layout: OutputLayout, video_id: str, scene_id: str,
                     probe: VideoProbe) -> tuple[list[FrameRow], np.ndarray]:
    """Decode and store the keyframes: their `frames` rows and the RGB images [N,H,W,3]."""
    rows = []
    images = decode_frames(path, keyframes)
    for index, rgb in zip(keyframes, images):
        sha, rel = put_frame(layout, rgb)
        rows.append(FrameRow(video_id=video_id, scene_id=scene_id, frame_index=index,
                             timestamp_s=index / probe.fps, frame_sha256=sha, path=rel, width=rgb.shape[1],
                             height=rgb.shape[0]))
    return rows, images


def scene_facts_from_native(item: VideoItem, video_id: str, native: annotated.NativeAnnotations,
                            frames: list[FrameRow], layout: OutputLayout) -> SceneFacts:
    """Lift a scene's native depth, masks and poses at its keyframes into SceneFacts (masks stored as artifacts)."""
    k = native.track.intrinsics
    keyframes = [Keyframe(frame_index=f.frame_index, depth_m=native.depth_m[i], instance_ids=native.instance_ids[i],
                          camera_to_world=native.camera_to_world[i]) for i, f in enumerate(frames)]
    lifted = lift_scene(
        scene_id=item.scene_id, source_tier=native.scene.tier,
        categories={o.instance_id: o.category for o in native.scene.objects}, keyframes=keyframes,
        intrinsic=Intrinsic(fx=k.fx, fy=k.fy, cx=k.cx, cy=k.cy), up_world=np.asarray(native.scene.up),
        provenance=NATIVE, store_mask=lambda mask: put_mask(layout, mask))
    cameras = camera_facts(item.scene_id, video_id, frames, keyframes, k, lifted.canonical_from_world)
    scene = SceneFact(scene_id=item.scene_id, video_id=video_id, source=native.scene.source, scale=lifted.tier,
                      tier_from=lifted.tier_from, extent_m=lifted.extent_m, n_keyframes=len(cameras),
                      n_objects=len(lifted.objects), fps=native.track.fps, room=lifted.room, provenance=NATIVE)
    return SceneFacts(scene=scene, objects=lifted.objects, cameras=cameras)
