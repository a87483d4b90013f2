"""Publish one curated shard: its tables, one atomic commit each, then the `shards` record that vouches for them."""

from __future__ import annotations

from pipeline.shard import ShardResult
from schemas.arrow import to_arrow
from schemas.runs import ShardRow
from storage.commits import commit_shard, stage_table
from storage.layout import OutputLayout
from storage.tables import SHARD_TABLES


def commit_result(layout: OutputLayout, result: ShardResult, fingerprint: str, run_id: str, stale: bool) -> None:
    """Publish a shard table by table (a shard that produced no rows for a table clears its old ones), then record
    its fingerprint, unless it has failures: a re-run tries those again. A `stale` record goes first, so a run
    killed mid-commit never leaves a record that vouches for half-replaced tables."""
    if stale:
        commit_shard(layout, "shards", result.shard_id, [], run_id)
    for table in SHARD_TABLES:
        commit_shard(layout, table, result.shard_id, [s for s in result.staged if s.table == table], run_id)
    if not result.failures:
        record = to_arrow([result.record(fingerprint, run_id)], ShardRow)
        commit_shard(layout, "shards", result.shard_id, stage_table(layout, "shards", record, result.shard_id), run_id)
