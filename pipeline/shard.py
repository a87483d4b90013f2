"""Curate a shard of videos and stage its rows as Parquet files, ready for one atomic commit per table."""

from __future__ import annotations

import hashlib
import traceback
from collections import Counter
from dataclasses import dataclass, field

from pipeline.video import VideoOutput, curate_video
from schemas.arrow import to_arrow
from schemas.config import CurateConfig
from schemas.runs import FailureRow
from sources.discovery import VideoItem
from storage.commits import StagedFile, stage_table
from storage.layout import OutputLayout
from storage.tables import TABLES


@dataclass(frozen=True)
class Shard:
    shard_id: str
    items: tuple[VideoItem, ...]


@dataclass
class ShardResult:
    """Plain data handed back to the flow: staged files, row counts, failures and QA gate drops."""

    shard_id: str
    staged: list[StagedFile] = field(default_factory=list)
    row_counts: Counter = field(default_factory=Counter)
    qa_counts: Counter = field(default_factory=Counter)  # (scale, task_type) → rows
    drops: Counter = field(default_factory=Counter)  # (task_type, reason) → candidates dropped
    failures: list[FailureRow] = field(default_factory=list)


def plan_shards(items: list[VideoItem], shard_size: int) -> list[Shard]:
    """Consecutive groups of `shard_size` videos (in the adapters' sorted order); a shard's id hashes its
    members, so the same inputs give the same shard ids and a re-run replaces rather than duplicates."""
    shards = []
    for start in range(0, len(items), shard_size):
        members = tuple(items[start:start + shard_size])
        digest = hashlib.sha256("\n".join(f"{i.source}:{i.uri}" for i in members).encode()).hexdigest()[:16]
        shards.append(Shard(shard_id=digest, items=members))
    return shards


def curate_shard(shard: Shard, config: CurateConfig, run_id: str) -> ShardResult:
    layout = OutputLayout(config.output_root)
    merged = VideoOutput()
    for item in shard.items:
        try:
            output = curate_video(item, config, layout, run_id)
        except Exception as err:  # a defect on one video must not lose the shard; it is reported, not hidden
            last = traceback.format_exception_only(err)[-1].strip()
            output = VideoOutput(rows={"failures": [FailureRow(
                run_id=run_id, uri=item.uri, scene_id=item.scene_id, video_id=None, stage="internal",
                error_type=type(err).__name__, message=f"unexpected error: {last}")]})
        for table, rows in output.rows.items():
            merged.add(table, rows)
        merged.drops.update(output.drops)
    result = ShardResult(shard_id=shard.shard_id, drops=merged.drops, failures=merged.rows.get("failures", []))
    for table, rows in merged.rows.items():
        result.row_counts[table] = len(rows)
        if rows:
            result.staged.extend(stage_table(layout, table, to_arrow(rows, TABLES[table].model), shard.shard_id))
    for row in merged.rows.get("qa", []):
        result.qa_counts[(row.scale.value, row.task_type.value)] += 1
    return result
