"""Curate a shard of videos and stage its rows as Parquet files, ready for one atomic commit per table."""

from __future__ import annotations

import hashlib
import os
import traceback
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import islice
from pathlib import Path

from pipeline.fill import Specialists
from pipeline.video import VideoOutput, curate_video
from schemas.arrow import to_arrow
from schemas.config import CurateConfig
from schemas.paths import printable
from schemas.runs import DropCount, FailureRow, QACount, ShardRow
from schemas.specialists import load_profile
from sources.discovery import VideoItem, vetted
from storage.commits import StagedFile, stage_table
from storage.layout import FORMAT_VERSION, OutputLayout
from storage.tables import TABLES

CURATION_VERSION = 1
"""Bump when a change to the curation code changes the rows it writes: committed shards are then curated again."""

RUN_ONLY_FIELDS = frozenset({"output_root", "generate_default_data", "scenes_per_tier", "shard_size", "ray_address",
                             "ray_num_cpus", "max_shards_in_flight", "max_attempts", "manifest", "compact_min_files"})
"""Configuration that decides how a run goes, not what a shard's rows are; every other field is fingerprinted."""


@dataclass(frozen=True)
class Shard:
    shard_id: str
    items: tuple[VideoItem, ...]


@dataclass
class ShardResult:
    """Plain data handed back to the flow: staged files, row counts, failures, QA gate drops, retries and
    specialist cache use."""

    shard_id: str
    staged: list[StagedFile] = field(default_factory=list)
    row_counts: Counter = field(default_factory=Counter)
    qa_counts: Counter = field(default_factory=Counter)  # (scale, task_type) → rows
    drops: Counter = field(default_factory=Counter)  # (task_type, reason) → candidates dropped
    failures: list[FailureRow] = field(default_factory=list)
    retried: int = 0  # videos tried more than once
    cache_hits: Counter = field(default_factory=Counter)  # specialist → outputs reused from the cache
    cache_misses: Counter = field(default_factory=Counter)  # specialist → outputs computed

    def absorb(self, other: ShardResult) -> None:
        """Add another part of the same shard (its videos curated by separate tasks)."""
        self.staged.extend(other.staged)
        for mine, theirs in ((self.row_counts, other.row_counts), (self.qa_counts, other.qa_counts),
                             (self.drops, other.drops), (self.cache_hits, other.cache_hits),
                             (self.cache_misses, other.cache_misses)):
            mine.update(theirs)
        self.failures.extend(other.failures)
        self.retried += other.retried

    def record(self, fingerprint: str, run_id: str) -> ShardRow:
        """The `shards` row of this result once committed."""
        return ShardRow(shard_id=self.shard_id, fingerprint=fingerprint, run_id=run_id,
                        row_counts=dict(self.row_counts),
                        qa_counts=[QACount(scale=s, task_type=t, n=n) for (s, t), n in sorted(self.qa_counts.items())],
                        drops=[DropCount(task_type=t, reason=r, n=n) for (t, r), n in sorted(self.drops.items())])

    @classmethod
    def reused(cls, row: ShardRow) -> ShardResult:
        """The tallies of a shard committed earlier and reused as it is (nothing staged, nothing recomputed)."""
        return cls(shard_id=row.shard_id, row_counts=Counter(row.row_counts),
                   qa_counts=Counter({(c.scale, c.task_type): c.n for c in row.qa_counts}),
                   drops=Counter({(d.task_type, d.reason): d.n for d in row.drops}))


def plan_shards(items: Iterable[VideoItem], shard_size: int, data_root: Path) -> Iterator[Shard]:
    """Consecutive groups of `shard_size` videos (in the adapters' sorted order, or the manifest's), planned as
    they are read: only one shard's members are held. Items are vetted first (sources/discovery.py: a refused item
    stays in its shard and becomes its failures row). A shard's id hashes the resolved data root and its members,
    so the same inputs give the same shard ids and a re-run replaces rather than duplicates, while another data
    root's shards never replace this one's."""
    stream = vetted(items, data_root)
    root = os.fsencode(data_root.resolve())
    while members := tuple(islice(stream, shard_size)):
        digest = hashlib.sha256(root + "".join(f"\n{i.source}:{i.uri}" for i in members).encode()).hexdigest()[:16]
        yield Shard(shard_id=digest, items=members)


def shard_fingerprint(shard: Shard, config: CurateConfig) -> str:
    """Hash of what a shard's rows depend on: its members (and why any is refused), each input file's size and
    modification time, the output-affecting configuration (with the stamp of each file it names, e.g. the
    specialist profile), the curation code version and the table format version."""
    digest = hashlib.sha256(f"{CURATION_VERSION}:{FORMAT_VERSION}:{shard.shard_id}\n".encode())
    digest.update(_config_digest(config).encode())
    for item in shard.items:
        digest.update(f"\n{item.scene_id}:{item.tier.value if item.tier else ''}:{item.refused}".encode())
        for path in sorted({f for root in (item.path, item.annotations_dir) if root for f in _input_files(root)}):
            digest.update(b"\n" + os.fsencode(path) + f":{_file_stamp(path)}".encode())
    return digest.hexdigest()[:32]


@lru_cache(maxsize=8)
def _config_digest(config: CurateConfig) -> str:
    """The output-affecting configuration, the stamp of each file it names, and the stamp of every weights file of
    its specialist profile (new weights under the same path re-curate the shards that used them)."""
    digest = hashlib.sha256(config.model_dump_json(exclude=set(RUN_ONLY_FIELDS)).encode())
    for name in sorted(set(type(config).model_fields) - RUN_ONLY_FIELDS):
        value = getattr(config, name)
        if isinstance(value, Path) and value.is_file():
            digest.update(f"\n{name}:{_file_stamp(value)}".encode())
    weights = load_profile(config.specialists).weights_paths() if config.specialists else []
    for path in weights:
        for file in _input_files(path) if path.exists() else []:
            digest.update(b"\n" + os.fsencode(file) + f":{_file_stamp(file)}".encode())
    return digest.hexdigest()


def curate_shard(shard: Shard, config: CurateConfig, run_id: str, specialists: Specialists | None = None
                  ) -> ShardResult:
    """Curate the shard's videos (plain ones through `specialists` when given) and stage their rows."""
    layout = OutputLayout(config.output_root)
    merged = VideoOutput()
    retried = 0
    for item in shard.items:
        output, attempts = _curate_with_retries(item, config, layout, run_id, specialists)
        retried += attempts > 1
        for table, rows in output.rows.items():
            merged.add(table, rows)
        merged.drops.update(output.drops)
        merged.cache_hits.update(output.cache_hits)
        merged.cache_misses.update(output.cache_misses)
    result = ShardResult(shard_id=shard.shard_id, drops=merged.drops, failures=merged.rows.get("failures", []),
                         retried=retried, cache_hits=merged.cache_hits, cache_misses=merged.cache_misses)
    for table, rows in merged.rows.items():
        result.row_counts[table] = len(rows)
        if rows:
            result.staged.extend(stage_table(layout, table, to_arrow(rows, TABLES[table].model), shard.shard_id))
    for row in merged.rows.get("qa", []):
        result.qa_counts[(row.scale.value, row.task_type.value)] += 1
    return result


def _curate_with_retries(item: VideoItem, config: CurateConfig, layout: OutputLayout, run_id: str,
                         specialists: Specialists | None) -> tuple[VideoOutput, int]:
    """curate_video and the attempts it took: an unexpected error is tried again up to `max_attempts`, then the
    video is quarantined (a failures row with the last error); bad input is a failures row at once."""
    for attempt in range(1, config.max_attempts + 1):
        try:
            return curate_video(item, config, layout, run_id, specialists), attempt
        except Exception as err:  # a defect on one video must not lose the shard; it is reported, not hidden
            error = err
    last = printable(traceback.format_exception_only(error)[-1].strip())
    failure = FailureRow(run_id=run_id, uri=item.uri, scene_id=item.scene_id, video_id=None, stage="quarantine",
                         error_type=type(error).__name__, attempts=config.max_attempts,
                         message=f"unexpected error on all {config.max_attempts} attempts: {last}")
    return VideoOutput(rows={"failures": [failure]}), config.max_attempts


def _input_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]


def _file_stamp(path: Path) -> str:
    try:
        stat = path.stat()
    except OSError as err:
        return f"unreadable ({type(err).__name__})"
    return f"{stat.st_size}:{stat.st_mtime_ns}"
