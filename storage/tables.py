"""The catalog's tables: which row model each holds and how it is partitioned."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from schemas.benchmark import BenchmarkSceneRow
from schemas.evaluation import EvalRunRow, EvalSampleRow
from schemas.facts import CameraFact, ObjectFact, SceneFact
from schemas.ingest import FrameRow, VideoRow
from schemas.qa import QARow, RejectRow
from schemas.runs import FailureRow, RunRow, ShardRow


@dataclass(frozen=True)
class TableSpec:
    name: str
    model: type[BaseModel]
    partition_by: tuple[str, ...] = ()
    sort_by: tuple[str, ...] = ()  # the order of rows inside a file, so min/max statistics prune lookups by them


TABLES: dict[str, TableSpec] = {spec.name: spec for spec in (
    TableSpec("videos", VideoRow, sort_by=("video_id",)),
    TableSpec("frames", FrameRow, sort_by=("video_id", "frame_index")),
    TableSpec("scenes", SceneFact, ("scale",), ("video_id",)),
    TableSpec("objects", ObjectFact, ("scale",), ("scene_id", "object_id")),
    TableSpec("cameras", CameraFact, sort_by=("video_id", "frame_index")),
    TableSpec("qa", QARow, ("scale", "task_type"), ("video_id", "qa_id")),
    TableSpec("rejects", RejectRow, sort_by=("scene_id", "qa_id")),
    TableSpec("failures", FailureRow),
    TableSpec("runs", RunRow, sort_by=("run_id",)),
    TableSpec("shards", ShardRow, sort_by=("shard_id",)),
    TableSpec("benchmark", QARow, ("scale", "task_type"), ("video_id", "qa_id")),
    TableSpec("benchmark_scenes", BenchmarkSceneRow, sort_by=("scene_id",)),
    TableSpec("eval_runs", EvalRunRow, sort_by=("eval_run_id",)),
    TableSpec("eval_samples", EvalSampleRow, sort_by=("eval_run_id", "qa_id")),
)}


SHARD_TABLES = ("videos", "frames", "scenes", "objects", "cameras", "qa", "rejects", "failures")
"""The tables a curate shard writes (each committed per shard)."""


def table_spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; tables: {', '.join(TABLES)}") from None
