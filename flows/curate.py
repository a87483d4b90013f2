"""`curate`: videos under a data root → validated QA tables in a DuckDB catalog, shards fanned out to Ray."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime

from flows.offline import quiet_environment

quiet_environment()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_table_artifact  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

from flows.ray_runtime import ray_session  # noqa: E402
from pipeline.shard import Shard, ShardResult, curate_shard, plan_shards  # noqa: E402
from schemas.arrow import to_arrow  # noqa: E402
from schemas.config import CurateConfig  # noqa: E402
from schemas.runs import FailureRow, RunRow  # noqa: E402
from schemas.tiers import ScaleTier  # noqa: E402
from sources import annotated, video_folder  # noqa: E402
from sources.discovery import VideoItem  # noqa: E402
from storage.catalog import refresh_catalog  # noqa: E402
from storage.commits import commit_shard, stage_table  # noqa: E402
from storage.layout import OutputLayout  # noqa: E402
from storage.tables import SHARD_TABLES  # noqa: E402


@dataclass
class RunSummary:
    run_id: str
    videos: int = 0
    scenes: int = 0
    qa: int = 0
    rejects: int = 0
    qa_by_tier_task: Counter = field(default_factory=Counter)
    drops: Counter = field(default_factory=Counter)
    failures: list[FailureRow] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def status(self) -> str:
        return "partial" if self.failures else "succeeded"


@task
def ensure_default_data(config: CurateConfig) -> None:
    """Render the synthetic all-scale default set into the data root when it holds nothing else; an interrupted
    rendering is completed (finished scenes are kept)."""
    from sources.synthetic import generate_default_dataset, scene_id_for  # noqa: PLC0415

    root = config.data_root
    default_ids = {scene_id_for(tier, seed) for tier in ScaleTier for seed in range(config.scenes_per_tier)}
    present = {p.name for p in root.iterdir() if not p.name.startswith(".")} if root.exists() else set()
    if not present <= default_ids:
        return
    get_run_logger().info("rendering the default set into %s (%d scenes per tier, %d present)", root,
                          config.scenes_per_tier, len(present))
    generate_default_dataset(root, scenes_per_tier=config.scenes_per_tier)


@task
def discover_videos(config: CurateConfig) -> list[VideoItem]:
    if not config.data_root.is_dir():
        raise FileNotFoundError(f"data root {config.data_root} does not exist or is not a directory")
    return [*annotated.discover(config.data_root), *video_folder.discover(config.data_root)]


@task
def plan(items: list[VideoItem], config: CurateConfig) -> list[Shard]:
    return plan_shards(items, config.shard_size)


@task
def run_shards(shards: list[Shard], config: CurateConfig, run_id: str) -> RunSummary:
    """Fan shards out to Ray with a bounded number in flight; commit each shard as it completes."""
    import ray  # noqa: PLC0415 (after quiet_environment)

    layout = OutputLayout(config.output_root)
    summary = RunSummary(run_id=run_id)
    remote = ray.remote(num_cpus=1, max_retries=1)(curate_shard)
    pending: dict = {}
    queue = list(shards)
    with _progress() as bar:
        progress = bar.add_task("shards", total=len(shards))
        while queue or pending:
            while queue and len(pending) < config.max_shards_in_flight:
                shard = queue.pop(0)
                pending[remote.remote(shard, config, run_id)] = shard
            done, _ = ray.wait(list(pending), num_returns=1)
            shard = pending.pop(done[0])
            try:
                result = ray.get(done[0])
            except Exception as err:  # a worker that died or a shard that crashed: its videos are reported
                result = _failed_shard(shard, run_id, err)
            _commit(layout, result, run_id)
            _tally(summary, result)
            bar.advance(progress)
    return summary


@task
def record_run(config: CurateConfig, summary: RunSummary, started: datetime) -> None:
    layout = OutputLayout(config.output_root)
    row = RunRow(run_id=summary.run_id, started_at=started, finished_at=datetime.now(UTC), status=summary.status,
                 data_root=str(config.data_root), config_json=config.model_dump_json(),
                 n_videos=summary.videos, n_scenes=summary.scenes, n_qa=summary.qa, n_rejects=summary.rejects,
                 n_failures=len(summary.failures), wall_s=summary.wall_s)
    commit_shard(layout, "runs", summary.run_id, stage_table(layout, "runs", to_arrow([row], RunRow),
                                                             summary.run_id), summary.run_id)
    refresh_catalog(layout)


@task
def publish_summary(summary: RunSummary) -> None:
    """The run's QA counts per tier × task as a Prefect table artifact."""
    tiers, tasks = _tiers_and_tasks(summary)
    table = [{"task_type": t, **{tier: summary.qa_by_tier_task.get((tier, t), 0) for tier in tiers}}
             for t in tasks]
    create_table_artifact(key="curate-summary", table=table,
                          description=f"run {summary.run_id}: {summary.videos} videos, {summary.scenes} scenes, "
                                      f"{summary.qa} QA, {summary.rejects} rejects, {len(summary.failures)} "
                                      f"failures, {summary.wall_s:.1f} s")


@flow(name="curate")
def curate(config: CurateConfig) -> RunSummary:
    """Discover videos, plan shards, curate them on Ray, commit tables, refresh the catalog, summarize."""
    started = datetime.now(UTC)
    run_id = f"run-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    if config.generate_default_data:
        ensure_default_data(config)
    shards = plan(discover_videos(config), config)
    with ray_session(config.ray_address, config.ray_num_cpus):
        summary = run_shards(shards, config, run_id)
    summary.wall_s = (datetime.now(UTC) - started).total_seconds()
    record_run(config, summary, started)
    publish_summary(summary)
    get_run_logger().info("run %s %s: %d videos, %d QA, %d rejects, %d failures", run_id, summary.status,
                          summary.videos, summary.qa, summary.rejects, len(summary.failures))
    return summary


def _commit(layout: OutputLayout, result: ShardResult, run_id: str) -> None:
    """Publish a shard table by table; a shard that produced no rows for a table clears its old ones."""
    for table in SHARD_TABLES:
        commit_shard(layout, table, result.shard_id, [s for s in result.staged if s.table == table], run_id)


def _failed_shard(shard: Shard, run_id: str, err: Exception) -> ShardResult:
    message = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    return ShardResult(shard_id=shard.shard_id, failures=[
        FailureRow(run_id=run_id, uri=item.uri, scene_id=item.scene_id, video_id=None, stage="shard",
                   error_type=type(err).__name__, message=f"shard {shard.shard_id} failed: {message}")
        for item in shard.items])


def _tally(summary: RunSummary, result: ShardResult) -> None:
    summary.videos += result.row_counts["videos"]
    summary.scenes += result.row_counts["scenes"]
    summary.qa += result.row_counts["qa"]
    summary.rejects += result.row_counts["rejects"]
    summary.qa_by_tier_task.update(result.qa_counts)
    summary.drops.update(result.drops)
    summary.failures.extend(result.failures)


def _progress() -> Progress:
    return Progress(TextColumn("curating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


def _tiers_and_tasks(summary: RunSummary) -> tuple[list[str], list[str]]:
    return (sorted({tier for tier, _ in summary.qa_by_tier_task}),
            sorted({task_type for _, task_type in summary.qa_by_tier_task}))


def format_summary(summary: RunSummary) -> str:
    """The end-of-run report: totals, QA per task × tier, gate drops, and every failure with its reason."""
    tiers, tasks = _tiers_and_tasks(summary)
    width = max([len(t) for t in tasks] + [9])
    lines = [f"run {summary.run_id}: {summary.status}",
             f"videos {summary.videos}  scenes {summary.scenes}  qa {summary.qa}  rejects {summary.rejects}  "
             f"failures {len(summary.failures)}  wall {summary.wall_s:.1f} s", "",
             "task_type".ljust(width) + "".join(t.rjust(15) for t in tiers)]
    for t in tasks:
        lines.append(t.ljust(width) + "".join(str(summary.qa_by_tier_task.get((tier, t), 0)).rjust(15)
                                              for tier in tiers))
    if summary.drops:
        top = ", ".join(f"{task}/{reason} {n}" for (task, reason), n in summary.drops.most_common(8))
        lines += ["", f"dropped by quality gates: {sum(summary.drops.values())} ({top})"]
    for failure in summary.failures:
        lines.append(f"FAILED {failure.uri} [{failure.stage}] {failure.message}")
    return "\n".join(lines)

