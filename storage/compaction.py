"""Compaction: a table's small files (one per shard and partition) merged into fewer, larger files sorted by the
table's `sort_by` (video id first), so that a lookup by video skips whole files and row groups by their min/max
and a scan opens a few files instead of thousands.

A compacted file holds rows of many shards: its manifest entry has `shard` COMPACTED and `members` (shard → rows),
and the file names each row's shard in its `_shard` column, so committing a shard again still replaces exactly its
rows (`storage.commits.commit_shard` rewrites each compacted file that holds them). The merged files are written
first, unpublished, while commits go on; then one manifest version, under the table's host lock, swaps each
group's inputs for its merged file, skipping a group whose inputs a commit replaced meanwhile (its merged file is
deleted). Readers see the table before or after, whole; the inputs move to `superseded` and stay readable until a
vacuum, for readers of an older version. A run killed before that version leaves only unpublished files, which
`vacuum` sweeps as orphans.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from schemas.arrow import arrow_schema
from storage.commits import (ROW_GROUP_ROWS, SHARD_COLUMN, StagedFile, file_entries, in_table_order,
                             read_data_file, write_data_file)
from storage.filesystem import delete_file
from storage.layout import OutputLayout
from storage.locks import host_lock
from storage.manifests import COMPACTED, TableState, publish, read_state
from storage.tables import TABLES, table_spec

TARGET_ROWS = 32 * ROW_GROUP_ROWS
"""Rows a compacted file holds at most (262,144). Files under half of it are small: merged again, with the small
files committed since, by the next compaction. Bounds the memory of a merge and the copy a shard's re-commit makes."""


@dataclass(frozen=True)
class CompactionReport:
    table: str
    files_merged: int  # small files replaced
    files_written: int  # compacted files published in their place
    rows: int  # rows moved
    version: int | None  # the manifest version that published them (None: nothing to merge)
    conflicts: int = 0  # groups left as they were because a commit replaced one of their files meanwhile


def small_files(state: TableState, target_rows: int = TARGET_ROWS) -> dict[str, dict]:
    """A table version's files small enough to merge (under half of `target_rows` rows)."""
    return {rel: entry for rel, entry in state.files.items() if entry["rows"] < target_rows // 2}


def compact(layout: OutputLayout, table: str, target_rows: int = TARGET_ROWS, run_id: str = "compaction"
            ) -> CompactionReport:
    """Merge the table's small files, partition by partition, into sorted files of up to `target_rows` rows,
    published as one manifest version."""
    groups = _groups(small_files(read_state(layout, table), target_rows), target_rows)
    merged = [(inputs, _merge(layout, table, inputs)) for inputs in groups]
    with host_lock(layout.lock(table)):
        base = read_state(layout, table)
        live = base.files
        kept = []
        for inputs, output in merged:
            if all(live.get(rel, {}).get("sha256") == entry["sha256"] for rel, entry in inputs.items()):
                kept.append((inputs, output))
            else:
                delete_file(layout.fs, layout.table_file(table, output.target))
        if not kept:
            return CompactionReport(table, 0, 0, 0, None, conflicts=len(merged))
        now = datetime.now(UTC).isoformat()
        remove: dict[str, dict[str, str]] = {}
        for inputs, _ in kept:
            for rel, entry in inputs.items():
                remove.setdefault(entry["shard"], {})[rel] = now
        publish(layout, base, now, add=file_entries([output for _, output in kept], run_id, now), remove=remove)
    return CompactionReport(table, files_merged=sum(len(inputs) for inputs, _ in kept), files_written=len(kept),
                            rows=sum(output.rows for _, output in kept), version=base.version,
                            conflicts=len(merged) - len(kept))


def compact_tables(layout: OutputLayout, min_small_files: int,
                   target_rows: int = TARGET_ROWS) -> list[CompactionReport]:
    """Compact every table that has at least `min_small_files` small files; the reports of those compacted."""
    return [compact(layout, table, target_rows) for table in TABLES
            if len(small_files(read_state(layout, table), target_rows)) >= min_small_files]


def _groups(files: dict[str, dict], target_rows: int) -> list[dict[str, dict]]:
    """The small files of each partition directory in groups of up to `target_rows` rows, in path order; a group
    of one file is left out (merging it gains nothing)."""
    by_partition: dict[str, dict[str, dict]] = {}
    for rel in sorted(files):
        by_partition.setdefault(rel.rpartition("/")[0], {})[rel] = files[rel]
    groups: list[dict[str, dict]] = []
    for partition in by_partition.values():
        group: dict[str, dict] = {}
        rows = 0
        for rel, entry in partition.items():
            if group and rows + entry["rows"] > target_rows:
                groups.append(group)
                group, rows = {}, 0
            group[rel] = entry
            rows += entry["rows"]
        groups.append(group)
    return [group for group in groups if len(group) > 1]


def _merge(layout: OutputLayout, table: str, inputs: dict[str, dict]) -> StagedFile:
    """Write the rows of `inputs` (files of one partition) as one compacted file, unpublished."""
    spec = table_spec(table)
    stored = [f for f in arrow_schema(spec.model) if f.name not in spec.partition_by]
    schema = pa.schema([*stored, pa.field(SHARD_COLUMN, pa.string())])
    members: Counter[str] = Counter()
    parts = []
    for rel, entry in inputs.items():
        data = read_data_file(layout, table, rel)
        if entry["shard"] == COMPACTED:
            members.update(entry["members"])
        else:
            members[entry["shard"]] += data.num_rows
            data = data.append_column(SHARD_COLUMN, pa.array([entry["shard"]] * data.num_rows, pa.string()))
        parts.append(data.select(schema.names).cast(schema))
    subdir = next(iter(inputs)).rpartition("/")[0]
    return write_data_file(layout, table, subdir, in_table_order(table, pa.concat_tables(parts)), COMPACTED,
                           dict(members))
