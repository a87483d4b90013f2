"""Snapshot-safe table commits on any filesystem: data files are written in place under unique names, then
published by a new immutable, numbered version of the table's manifest log (`storage.manifests`).

A table's content is exactly the files its latest manifest version lists; a reader reads one version, so it sees
the table before or after a commit, never half of one. Versions are created exclusively and never rewritten, which
needs no rename and no lock on object stores; writers on one host take a per-table lock so two runs' commits of one
table serialize. Files carry the shard that wrote them: committing a shard again replaces that shard's files
(re-runs are idempotent, not duplicating), and its rows in compacted files (`storage.compaction`: rows of many
shards, each row's shard in the `_shard` column), which the commit rewrites without them; the replaced files move
to the manifest's `superseded` map with the commit time, and `vacuum` deletes them only once its grace period has
passed since then, so a reader still holding the previous file list never meets a missing file. Rows are written
in their table's `sort_by` order, in row groups small enough that min/max statistics prune lookups.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from schemas.arrow import arrow_schema
from storage.filesystem import delete_file, list_files, write_bytes
from storage.layout import OutputLayout
from storage.locks import host_lock
from storage.manifests import COMPACTED, prune_versions, publish, read_state
from storage.tables import TABLES, table_spec

VACUUM_GRACE = timedelta(hours=1)
"""How long a superseded data file stays readable (for readers of an earlier file list) before a vacuum."""

TEMPORARY_GRACE = timedelta(hours=1)
"""Age after which a local temporary file (`.<name>.<8 hex>.tmp`, and a DuckDB `.wal` beside one) belongs to a write
that died (killed, or the disk filled): a whole-file write or a catalog rebuild lasts far less."""
_TEMPORARY_NAME = re.compile(r"^\..+\.[0-9a-f]{8}\.tmp(?:\.wal)?$")
_DATA_NAME = re.compile(r"^part-.+-(\d{8}T\d{6}Z)-[0-9a-f]{8}\.parquet$")
_STAMP = "%Y%m%dT%H%M%SZ"
ROW_GROUP_ROWS = 8_192
"""Rows per Parquet row group: small enough that the min/max of the sort columns skip all but a few groups of a
file in a lookup, large enough that a file's metadata stays small."""
SHARD_COLUMN = "_shard"
"""The column of a compacted file that names each row's shard (views and readers of rows leave it out)."""


@dataclass(frozen=True)
class StagedFile:
    """A data file written at its final place but not yet published (invisible until a manifest lists it)."""

    table: str
    shard: str
    target: str  # relative to the table directory, e.g. "scale=indoor/task_type=object_size/part-….parquet"
    rows: int
    sha256: str
    members: dict[str, int] | None = None  # a compacted file's shards and their row counts


@dataclass(frozen=True)
class VacuumReport:
    manifests_removed: int  # versions no reader of the latest two needs any more
    files_removed: int  # superseded data files past their grace, and orphans
    temporaries_removed: int = 0  # temporary files of dead writes (with `sweep_orphans`, on a local root)


def stage_table(layout: OutputLayout, table: str, data: pa.Table, shard: str) -> list[StagedFile]:
    """Write `data` (rows of `table`) as one Parquet file per partition, named with the shard and the write time,
    its rows in the table's sort order."""
    _require_shard_id(table, shard)
    spec = table_spec(table)
    data = data.cast(arrow_schema(spec.model))
    return [write_data_file(layout, table, subdir, in_table_order(table, part.drop_columns(list(spec.partition_by))),
                            shard)
            for subdir, part in _partitions(data, spec.partition_by)]


def in_table_order(table: str, data: pa.Table) -> pa.Table:
    """`data` sorted by the table's `sort_by` columns (as it is when it has none)."""
    sort_by = [(column, "ascending") for column in table_spec(table).sort_by]
    return data.sort_by(sort_by) if sort_by else data


def write_data_file(layout: OutputLayout, table: str, subdir: str, data: pa.Table, shard: str,
                    members: dict[str, int] | None = None) -> StagedFile:
    """Write one data file of `table` (rows in table order) under the partition directory `subdir` ("" for none), in
    row groups of `ROW_GROUP_ROWS`; unpublished until a commit lists it. `members`: the row count of each shard a
    compacted file (`shard` COMPACTED) holds."""
    label = "compacted" if members is not None else shard
    name = f"part-{label}-{datetime.now(UTC):{_STAMP}}-{uuid.uuid4().hex[:8]}.parquet"
    target = f"{subdir}/{name}" if subdir else name
    sink = pa.BufferOutputStream()
    pq.write_table(data, sink, compression="zstd", row_group_size=ROW_GROUP_ROWS)
    encoded = sink.getvalue().to_pybytes()
    write_bytes(layout.fs, layout.table_file(table, target), encoded)
    return StagedFile(table=table, shard=shard, target=target, rows=data.num_rows,
                      sha256=hashlib.sha256(encoded).hexdigest(), members=members)


def commit_shard(layout: OutputLayout, table: str, shard: str, staged: list[StagedFile], run_id: str) -> None:
    """Publish a shard's written files for one table as a new manifest version, replacing the shard's old rows:
    its own files, and its rows in compacted files (each such file is rewritten without them, in this version)."""
    _require_shard_id(table, shard)
    _require_written(layout, table, staged)
    with host_lock(layout.lock(table)):
        base = read_state(layout, table)
        now = datetime.now(UTC).isoformat()
        holders = base.holders(shard)
        rewritten = [rest for rel, entry in sorted(holders.items())
                     if (rest := _without_shard(layout, table, rel, entry, shard)) is not None]
        remove = {shard: dict.fromkeys(base.shards.get(shard, {}), now), COMPACTED: dict.fromkeys(holders, now)}
        publish(layout, base, now, add=file_entries([*staged, *rewritten], run_id, now),
                remove={key: files for key, files in remove.items() if files})


def file_entries(staged: list[StagedFile], run_id: str, now: str) -> dict[str, dict]:
    """The manifest entries of written files (relative path → rows, sha256, shard, run, commit time; `members` of a
    compacted file)."""
    return {item.target: {"rows": item.rows, "sha256": item.sha256, "shard": item.shard, "run_id": run_id,
                          "committed_at": now, **({"members": item.members} if item.members is not None else {})}
            for item in staged}


def committed_shards(layout: OutputLayout, table: str) -> set[str]:
    """The shards with rows in the table's latest version (in files of their own or in compacted files)."""
    return read_state(layout, table).shard_ids()


def read_data_file(layout: OutputLayout, table: str, relative: str) -> pa.Table:
    """The rows of one data file as stored (without its partition columns; a compacted file with `_shard`)."""
    with layout.fs.open_input_file(layout.table_file(table, relative)) as handle:
        return pq.ParquetFile(handle).read()


def shard_rows(layout: OutputLayout, table: str, shard: str | None = None) -> dict[str, pa.Table]:
    """The rows of the table's latest version by the shard that committed them (of `shard` only, when given), with
    their partition columns restored from the file paths."""
    state = read_state(layout, table)
    own = {shard: state.shards.get(shard, {})} if shard is not None else {
        key: files for key, files in state.shards.items() if key != COMPACTED}
    compacted = state.holders(shard) if shard is not None else state.shards.get(COMPACTED, {})
    parts: dict[str, list[pa.Table]] = {}
    for key, files in own.items():
        for rel in sorted(files):
            parts.setdefault(key, []).append(_with_partition_columns(read_data_file(layout, table, rel), rel))
    for rel in sorted(compacted):
        data = _with_partition_columns(read_data_file(layout, table, rel), rel)
        if shard is not None:
            data = data.filter(pc.equal(data[SHARD_COLUMN], shard))
        data = data.sort_by(SHARD_COLUMN)  # a stable sort: each shard's rows one run, in file order
        ids = data[SHARD_COLUMN].to_numpy(zero_copy_only=False)
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]]) if len(ids) else np.array([], int)
        for start, stop in zip(starts, [*starts[1:], len(ids)]):
            parts.setdefault(str(ids[start]), []).append(data.slice(start, stop - start).drop_columns([SHARD_COLUMN]))
    schema = arrow_schema(table_spec(table).model)
    return {key: pa.concat_tables([t.select(schema.names).cast(schema) for t in tables])
            for key, tables in parts.items() if tables}


def read_manifest(layout: OutputLayout, table: str, version: int | None = None) -> dict:
    """A table's manifest, read-only: the latest version unless `version` is given; an empty version 0 before any
    commit. `files` maps each data file (relative to the table directory) to its rows, sha256, shard and run."""
    return read_state(layout, table, version).as_manifest()


def table_files(layout: OutputLayout, table: str) -> list[str]:
    """The files that make up a table now, per its latest manifest version."""
    return [layout.table_file(table, rel) for rel in sorted(read_state(layout, table).files)]


def vacuum(layout: OutputLayout, older_than: timedelta, sweep_orphans: bool = True) -> VacuumReport:
    """Remove what no reader can need any more: data files superseded more than `older_than` ago (publishing a
    version without them in its `superseded` map), manifest versions no reader of the latest two needs, and, with
    `sweep_orphans` (it lists every data file), the files that no manifest names and that were written more than
    `older_than` ago (the orphans of runs killed between writing and committing), and on a local root the temporary
    files of writes that died, once `TEMPORARY_GRACE` old."""
    now = datetime.now(UTC)
    cutoff = now - older_than
    manifests_removed = files_removed = 0
    for table in TABLES:
        with host_lock(layout.lock(table)):
            state = read_state(layout, table)
            expired = sorted(rel for rel, at in state.superseded.items() if datetime.fromisoformat(at) <= cutoff)
            for rel in expired:
                delete_file(layout.fs, layout.table_file(table, rel))
            files_removed += len(expired)
            if sweep_orphans:
                files_removed += _sweep_orphans(layout, table, state.files.keys() | state.superseded.keys(), cutoff)
            manifests_removed += (publish(layout, state, now.isoformat(), expire=expired) if expired
                                  else prune_versions(layout, table))
    temporaries = _sweep_temporaries(layout, now - TEMPORARY_GRACE) if sweep_orphans else 0
    return VacuumReport(manifests_removed=manifests_removed, files_removed=files_removed,
                        temporaries_removed=temporaries)


def _sweep_orphans(layout: OutputLayout, table: str, named: set[str], cutoff: datetime) -> int:
    """Delete the table's data files that `named` lacks and whose name says they were written before `cutoff`."""
    removed = 0
    prefix = len(layout.table_dir(table)) + 1
    for info in list_files(layout.fs, layout.table_dir(table), recursive=True):
        match = _DATA_NAME.match(info.base_name)
        if match and info.path[prefix:] not in named and _written_at(match) <= cutoff:
            delete_file(layout.fs, info.path)
            removed += 1
    return removed


def _sweep_temporaries(layout: OutputLayout, cutoff: datetime) -> int:
    """Delete the temporary files under a local root last modified before `cutoff`."""
    if not layout.location.is_local:
        return 0  # object stores are written by one PUT per file, without temporaries
    stale = [info.path for info in list_files(layout.fs, layout.location.base, recursive=True)
             if _TEMPORARY_NAME.match(info.base_name) and info.mtime is not None and info.mtime <= cutoff]
    for path in stale:
        delete_file(layout.fs, path)
    return len(stale)


def _without_shard(layout: OutputLayout, table: str, relative: str, entry: dict, shard: str) -> StagedFile | None:
    """A compacted file rewritten (copy on write) without the rows of `shard`; None when nothing else is left."""
    members = {key: rows for key, rows in entry["members"].items() if key != shard}
    if not members:
        return None
    data = read_data_file(layout, table, relative)
    kept = data.filter(pc.not_equal(data[SHARD_COLUMN], shard))
    return write_data_file(layout, table, relative.rpartition("/")[0], kept, COMPACTED, members)


def _with_partition_columns(data: pa.Table, relative: str) -> pa.Table:
    for segment in relative.split("/")[:-1]:
        column, value = segment.split("=", 1)
        data = data.append_column(column, pa.array([value] * data.num_rows, pa.string()))
    return data


def _require_shard_id(table: str, shard: str) -> None:
    if shard == COMPACTED:
        raise ValueError(f"table {table}: {COMPACTED!r} names compacted files, it cannot be a shard id")


def _require_written(layout: OutputLayout, table: str, staged: list[StagedFile]) -> None:
    infos = layout.fs.get_file_info([layout.table_file(table, item.target) for item in staged])
    missing = [info.path for info in infos if info.type != pafs.FileType.File]
    if missing:
        raise FileNotFoundError(f"table {table}: {len(missing)} written file(s) are gone before the commit (vacuumed "
                                f"with a grace period shorter than the shard took?), e.g. {missing[0]}")


def _written_at(match: re.Match) -> datetime:
    return datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)


def _partitions(data: pa.Table, columns: tuple[str, ...]) -> Iterator[tuple[str, pa.Table]]:
    """The rows of each partition with its directory (`col=value/…`, "" when the table has no partition columns)."""
    if not columns:
        if data.num_rows:
            yield "", data
        return
    keys = data.select(list(columns)).group_by(list(columns)).aggregate([]).to_pylist()
    for key in sorted(keys, key=lambda k: tuple(k.values())):
        mask = None
        for col, val in key.items():
            cond = pc.equal(data[col], val)
            mask = cond if mask is None else pc.and_(mask, cond)
        yield "/".join(f"{col}={key[col]}" for col in columns), data.filter(mask)
