"""Rows of the ingest tables: `videos` (one per source video) and `frames` (its stored keyframes)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class VideoRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    video_id: str = Field(description="sha256 of the file's bytes")
    source: str = Field(description="adapter name: 'annotated' or 'video_folder'")
    uri: str = Field(description="path relative to the data root")
    scene_id: str
    size_bytes: int = Field(gt=0)
    fps: float = Field(gt=0)
    n_frames: int = Field(gt=0)
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    duration_s: float = Field(gt=0)
    has_native_annotations: bool
    run_id: str


class FrameRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    video_id: str
    scene_id: str
    frame_index: int = Field(ge=0)
    timestamp_s: float = Field(ge=0)
    frame_sha256: str
    path: str = Field(description="content-addressed image, relative to the output root")
    width: int = Field(gt=0)
    height: int = Field(gt=0)
