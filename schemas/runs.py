"""Rows of the run bookkeeping tables: `failures` (a video that could not be curated, and why), `runs`, and
`shards` (what each committed shard was made from, so a re-run can reuse it)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class FailureRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    uri: str = Field(description="the input as given (relative to the data root where possible)")
    scene_id: str | None
    video_id: str | None
    stage: str = Field(description="manifest | discover | probe | decode | annotations | facts | qa | quarantine (an "
                                   "unexpected error or a dead worker on every attempt)")
    error_type: str
    message: str
    attempts: int = Field(default=1, ge=1, description="how many times the video was tried")


class RunRow(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    started_at: datetime
    finished_at: datetime
    status: str = Field(description="succeeded (every video curated) | partial (some failed) | failed (every video "
                                    "failed, or none was found)")
    data_root: str
    config_json: str
    n_videos: int
    n_scenes: int
    n_qa: int
    n_rejects: int
    n_failures: int
    wall_s: float
    n_retried: int = Field(default=0, description="videos tried more than once")
    n_quarantined: int = Field(default=0, description="videos given up after every attempt failed")
    n_shards_reused: int = Field(default=0, description="shards already committed with the same fingerprint")
    n_cache_hits: int = Field(default=0, description="specialist outputs reused from the cache")
    n_cache_misses: int = Field(default=0, description="specialist outputs computed")


class QACount(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scale: str
    task_type: str
    n: int


class DropCount(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    task_type: str
    reason: str
    n: int


class ShardRow(BaseModel):
    """A shard committed without failures: its fingerprint and the tallies a re-run reports when it reuses it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    shard_id: str
    fingerprint: str = Field(description="hash of the shard's inputs, the output-affecting configuration and the "
                                         "curation code version")
    run_id: str
    row_counts: dict[str, int]
    qa_counts: list[QACount]
    drops: list[DropCount]
