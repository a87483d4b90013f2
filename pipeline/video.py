"""Curate one item: read it through its source → store keyframes → fill what it lacks → facts → QA.

A bad input stops its own item at the stage that found the problem and becomes a `failures` row naming the
input, the stage and the problem; rows from the stages it passed (its `videos`/`frames` rows) are kept.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from facts.lift import FactsError
from pipeline.fill import Specialists, SpecialistsMissing, fill_missing
from pipeline.scene_facts import SceneFactsError, build_scene_facts
from qa_templates.generate import generate_scene_qa
from schemas.config import CurateConfig
from schemas.ingest import FrameRow, VideoRow
from schemas.paths import OutsideDataRootError, inside_root, printable
from schemas.runs import FailureRow
from sources.contract import KeyframePolicy, SceneInputs, SourceError
from sources.discovery import VideoItem, content_sha256
from sources.registry import UnknownSourceError, get_source
from sources.video_decode import VideoDecodeError
from specialists.cache import SpecialistCache
from specialists.contract import SpecialistError
from specialists.scale_alignment import ScaleAlignmentError
from specialists.sfm import SfMError
from storage.artifacts import put_frame
from storage.layout import OutputLayout

READ_STAGES = ((OutsideDataRootError, "discover"), (VideoDecodeError, "probe"), (SourceError, "annotations"),
               (OSError, "probe"))
"""The stage a failed read is reported at, by what failed: a path out of the data root, the video (or its frame
images), or the annotations (anything else a source refuses)."""
INPUT_ERRORS = (OSError, VideoDecodeError, OutsideDataRootError, SourceError, FactsError, SceneFactsError,
                SpecialistsMissing, SpecialistError, SfMError, ScaleAlignmentError, UnknownSourceError)


MIN_KEYFRAMES = 2
"""Keyframes an item needs for facts (its ingest rows are kept): tasks are built across views, and one keyframe
gave 0 QA with no reason."""


class RefusedInput(ValueError):
    """An item discovery refused (a name that is not UTF-8, files or content or a scene id another item has)."""


class StageError(RuntimeError):
    """A stage's failure: the stage, the error's type and its message (printable: names may not be UTF-8)."""

    def __init__(self, stage: str, error: BaseException | str, error_type: str = "MissingInput"):
        self.stage = stage
        self.error_type = type(error).__name__ if isinstance(error, BaseException) else error_type
        super().__init__(printable(str(error)))


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
    """Whatever the item's source lacks is filled by `specialists` (a tier profile); without them an item that
    lacks something ends at stage `facts`, naming what is missing."""
    out = VideoOutput()
    cache = SpecialistCache(layout)
    video_id = None
    try:
        if item.refused:
            raise StageError("discover", RefusedInput(item.refused))
        source = _stage("discover", get_source, item.source)
        _stage("discover", inside_root, config.data_root, item.path)
        tier_specialists = specialists.for_tier(item.tier) if specialists else None
        own_stride = tier_specialists.profile.keyframe_stride if tier_specialists and not source.native else None
        stride = own_stride or config.keyframe_stride  # a profile's stride is for frames-only sources
        inputs = _read(source, config, item, KeyframePolicy(stride, config.max_keyframes))
        video_id = _stage("probe", content_sha256, inputs.content)
        frames = _stage("decode", store_keyframes, inputs, layout, video_id)
        height, width = inputs.rgb.shape[1:3]
        out.add("videos", [VideoRow(video_id=video_id, source=item.source, uri=item.uri, scene_id=item.scene_id,
                                    size_bytes=_stage("probe", _size_bytes, inputs.content), fps=inputs.fps,
                                    n_frames=inputs.n_frames, width=width, height=height,
                                    duration_s=inputs.n_frames / inputs.fps,
                                    has_native_annotations=bool(inputs.provenance), run_id=run_id)])
        out.add("frames", frames)
        if len(frames) < MIN_KEYFRAMES:
            raise StageError("facts", f"{item.uri}: {len(frames)} keyframe(s) of {inputs.n_frames} frame(s) at stride "
                                      f"{stride}; a scene needs at least {MIN_KEYFRAMES}", "TooFewKeyframes")
        filled = _stage("facts", fill_missing, inputs, tier_specialists, cache, video_id)
        facts = _stage("facts", build_scene_facts, filled, video_id, frames, layout)
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


def _read(source, config: CurateConfig, item: VideoItem, policy: KeyframePolicy) -> SceneInputs:
    try:
        inputs = source.read(config.data_root, item, policy)
    except INPUT_ERRORS as err:
        stage = next((name for kind, name in READ_STAGES if isinstance(err, kind)), "annotations")
        raise StageError(stage, err) from err
    if not len(inputs.frame_indices):
        raise StageError("probe", f"{item.uri}: no frames")
    return inputs


def _stage(stage: str, fn, *args):
    """Run one stage; expected input problems become a StageError tagged with the stage."""
    try:
        return fn(*args)
    except INPUT_ERRORS as err:
        raise StageError(stage, err) from err


def _size_bytes(files: list[Path]) -> int:
    return sum(f.stat().st_size for f in files)


def store_keyframes(inputs: SceneInputs, layout: OutputLayout, video_id: str) -> list[FrameRow]:
    """Store the keyframe images; their `frames` rows."""
    rows = []
    for index, timestamp, rgb in zip(inputs.frame_indices, inputs.timestamps_s, inputs.rgb):
        sha, rel = put_frame(layout, np.ascontiguousarray(rgb))
        rows.append(FrameRow(video_id=video_id, scene_id=inputs.scene_id, frame_index=index,
                             timestamp_s=timestamp, frame_sha256=sha, path=rel, width=rgb.shape[1],
                             height=rgb.shape[0]))
    return rows
