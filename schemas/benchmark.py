"""The benchmark build's configuration and its registry of held-out scenes (table `benchmark_scenes`)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.tiers import ScaleTier

EXACT_MARKER_FILE = "EXACT"
"""An annotated scene directory holding this file declares its boxes exact (measured or retrieved ground truth)."""


class BenchmarkConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    data_root: Path = Field(description="annotated scene directories are found under here")
    output_root: Path = Field(description="a curate output root of that data root: its `videos` and `frames` "
                                          "tables are read, the `benchmark` tables are written into it")
    held_out_fraction: float = Field(default=0.2, gt=0, le=1,
                                     description="share of exact scenes held out, chosen by a hash of the scene id "
                                                 "as named under data_root (the same wherever the root lies)")
    held_out_scene_ids: tuple[str, ...] | None = Field(
        default=None, description="hold out exactly these scenes, named as under data_root (\"indoor_001\", without "
                                  "the '@<root tag>' curated ids carry); held_out_fraction is then ignored")
    split_salt: str = Field(default="spacevista-bench", description="changes which scenes the hash split picks")
    exact_sources: tuple[str, ...] = Field(
        default=("synthetic",), description=f"scene.json sources whose boxes are exact; a scene directory holding "
                                            f"a {EXACT_MARKER_FILE} file counts too")
    seed: int = Field(default=0, description="phrasing seed for the benchmark's QA")


class BenchmarkSceneRow(BaseModel):
    """A held-out scene: training exports drop every row whose scene_id or video_id is listed here."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scene_id: str
    video_id: str = Field(description="sha256 of the scene's video content, as in the `videos` table")
    uri: str = Field(description="the video's path relative to the data root")
    scale: ScaleTier
    source: str
    selection: Literal["hash", "explicit"]
    n_qa: int = Field(ge=0)
    run_id: str
