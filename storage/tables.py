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


TABLES: dict[str, TableSpec] = {spec.name: spec for spec in (
    TableSpec("videos", VideoRow),
    TableSpec("frames", FrameRow),
    TableSpec("scenes", SceneFact, ("scale",)),
    TableSpec("objects", ObjectFact, ("scale",)),
    TableSpec("cameras", CameraFact),
    TableSpec("qa", QARow, ("scale", "task_type")),
    TableSpec("rejects", RejectRow),
    TableSpec("failures", FailureRow),
    TableSpec("runs", RunRow),
    TableSpec("shards", ShardRow),
    TableSpec("benchmark", QARow, ("scale", "task_type")),
    TableSpec("benchmark_scenes", BenchmarkSceneRow),
    TableSpec("eval_runs", EvalRunRow),
    TableSpec("eval_samples", EvalSampleRow),
)}


SHARD_TABLES = ("videos", "frames", "scenes", "objects", "cameras", "qa", "rejects", "failures")
"""The tables a curate shard writes (each committed per shard)."""


def table_spec(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; tables: {', '.join(TABLES)}") from None
