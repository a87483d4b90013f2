"""Rows of the run bookkeeping tables: `failures` (a video that could not be curated, and why) and `runs`."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class FailureRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    uri: str = Field(description="the input as given (relative to the data root where possible)")
    scene_id: str | None
    video_id: str | None
    stage: str = Field(description="discover | probe | decode | annotations | facts | qa | shard")
    error_type: str
    message: str


class RunRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    started_at: datetime
    finished_at: datetime
    status: str = Field(description="succeeded | partial")
    data_root: str
    config_json: str
    n_videos: int
    n_scenes: int
    n_qa: int
    n_rejects: int
    n_failures: int
    wall_s: float
