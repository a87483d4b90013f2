"""The curate run's configuration: typed, frozen, validated at the boundary (CLI, Prefect UI, deployments)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class CurateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data_root: Path = Field(description="videos and annotated scenes are found under here; nothing outside is read")
    output_root: Path = Field(description="tables, artifacts and the DuckDB catalog are written here")
    generate_default_data: bool = Field(
        default=True, description="render the synthetic all-scale default set into data_root when it has no scenes")
    scenes_per_tier: int = Field(default=2, ge=1, le=100)
    shard_size: int = Field(default=2, ge=1, le=10_000, description="videos per Ray task")
    keyframe_stride: int = Field(default=3, ge=1, description="take every n-th frame as a keyframe")
    max_keyframes: int = Field(default=16, ge=2, le=512)
    seed: int = Field(default=0, description="phrasing and sampling seed; same seed, same QA")
    ray_address: str | None = Field(default=None, description="an existing Ray cluster; None starts a local one")
    ray_num_cpus: int | None = Field(default=None, ge=1)
    max_shards_in_flight: int = Field(default=8, ge=1)
