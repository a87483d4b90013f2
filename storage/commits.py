"""Atomic table commits: Parquet files are staged, renamed into hive partitions, then published by a manifest.

A table's content is exactly the files its manifest lists; the manifest is replaced in one `os.replace`, so a
reader sees the table before or after a commit, never half of one. Files carry the shard that wrote them: committing
a shard again replaces that shard's files (re-runs are idempotent, not duplicating).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from schemas.arrow import arrow_schema
from storage.layout import FORMAT_VERSION, OutputLayout
from storage.tables import table_spec


@dataclass(frozen=True)
class StagedFile:
    table: str
    shard: str
    staged_path: str
    target: str  # relative to the table directory, e.g. "scale=indoor/task_type=object_size/part-….parquet"
    rows: int
    sha256: str


def stage_table(layout: OutputLayout, table: str, data: pa.Table, shard: str) -> list[StagedFile]:
    """Write `data` (rows of `table`) as one Parquet file per partition into the staging area."""
    spec = table_spec(table)
    data = data.cast(arrow_schema(spec.model))
    layout.staging.mkdir(parents=True, exist_ok=True)
    staged = []
    for values, part in _partitions(data, spec.partition_by):
        subdir = "/".join(f"{col}={val}" for col, val in zip(spec.partition_by, values))
        name = f"part-{shard}-{uuid.uuid4().hex[:8]}.parquet"
        path = layout.staging / name
        pq.write_table(part.drop_columns(list(spec.partition_by)), path, compression="zstd")
        staged.append(StagedFile(table=table, shard=shard, staged_path=str(path),
                                 target=f"{subdir}/{name}" if subdir else name, rows=part.num_rows,
                                 sha256=_sha256(path)))
    return staged


def commit_shard(layout: OutputLayout, table: str, shard: str, staged: list[StagedFile], run_id: str) -> None:
    """Publish a shard's staged files for one table, replacing whatever that shard committed before."""
    ensure_schema_file(layout, table)
    with _table_lock(layout, table):
        manifest = read_manifest(layout, table)
        superseded = [rel for rel, entry in manifest["files"].items() if entry["shard"] == shard]
        for item in staged:
            target = layout.table_dir(table) / item.target
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(item.staged_path, target)
        for rel in superseded:
            del manifest["files"][rel]
        now = datetime.now(UTC).isoformat()
        for item in staged:
            manifest["files"][item.target] = {"rows": item.rows, "sha256": item.sha256, "shard": shard,
                                              "run_id": run_id, "committed_at": now}
        manifest["version"] += 1
        _write_json_atomic(layout.manifest(table), manifest)
        for rel in superseded:
            (layout.table_dir(table) / rel).unlink(missing_ok=True)


def read_manifest(layout: OutputLayout, table: str) -> dict:
    path = layout.manifest(table)
    if not path.exists():
        return {"table": table, "format_version": FORMAT_VERSION, "version": 0, "files": {}}
    manifest = json.loads(path.read_text())
    if manifest.get("format_version") != FORMAT_VERSION:
        raise RuntimeError(f"{path}: format_version {manifest.get('format_version')} is not {FORMAT_VERSION}; "
                           f"this output root was written by another SpaceVista version, use a new --output")
    return manifest


def table_files(layout: OutputLayout, table: str) -> list[Path]:
    """The files that make up a table now, per its manifest."""
    return [layout.table_dir(table) / rel for rel in sorted(read_manifest(layout, table)["files"])]


def _partitions(data: pa.Table, columns: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], pa.Table]]:
    if not columns:
        if data.num_rows:
            yield (), data
        return
    keys = data.select(list(columns)).group_by(list(columns)).aggregate([]).to_pylist()
    for key in sorted(keys, key=lambda k: tuple(k.values())):
        mask = None
        for col, val in key.items():
            cond = pc.equal(data[col], val)
            mask = cond if mask is None else pc.and_(mask, cond)
        yield tuple(str(key[c]) for c in columns), data.filter(mask)


def ensure_schema_file(layout: OutputLayout, table: str) -> None:
    """Write the table's zero-row schema file once (a typed view for a table that has no rows yet)."""
    path = layout.schema_file(table)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
        pq.write_table(arrow_schema(table_spec(table).model).empty_table(), tmp)
        os.replace(tmp, path)


@contextmanager
def _table_lock(layout: OutputLayout, table: str) -> Iterator[None]:
    path = layout.lock(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _write_json_atomic(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True))
    os.replace(tmp, path)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
