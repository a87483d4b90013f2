"""`curate`: videos under a data root → validated QA tables in a DuckDB catalog, shards fanned out to Ray."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from itertools import chain
from pathlib import Path

from runtime.offline import quiet_environment

quiet_environment()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_progress_artifact, create_table_artifact, update_progress_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402
from prefect.states import Completed, Failed, State  # noqa: E402
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn  # noqa: E402

from flows.preflight import renders_default_set, require_ready, run_models, single_models  # noqa: E402
from flows.ray_runtime import WORKER_MODULES, ray_session  # noqa: E402
from pipeline.commit import commit_result  # noqa: E402
from pipeline.planning import ShardPlanner  # noqa: E402
from pipeline.shard import Shard, ShardResult, curate_shard, shard_fingerprint  # noqa: E402
from pipeline.fill import Specialists, TierSpecialists  # noqa: E402
from schemas.arrow import from_record, to_arrow  # noqa: E402
from schemas.config import CurateConfig  # noqa: E402
from schemas.runs import FailureRow, RunRow, ShardRow  # noqa: E402
from schemas.specialists import TierProfile, load_profile  # noqa: E402
from sources import registry  # noqa: E402
from sources.discovery import VideoItem  # noqa: E402
from sources.manifest import VideoManifest  # noqa: E402
from specialists.runner import actor_runners, unavailable  # noqa: E402
from storage.catalog import query, refresh_catalog  # noqa: E402
from storage.commits import VACUUM_GRACE, commit_shard, stage_table, vacuum  # noqa: E402
from storage.compaction import compact_tables  # noqa: E402
from storage.layout import OutputLayout  # noqa: E402


@dataclass
class RunSummary:
    run_id: str
    data_root: str = ""
    inputs: int = 0  # videos planned into shards (curated, reused or failed)
    videos: int = 0
    scenes: int = 0
    qa: int = 0
    rejects: int = 0
    qa_by_tier_task: Counter = field(default_factory=Counter)
    drops: Counter = field(default_factory=Counter)
    failures: list[FailureRow] = field(default_factory=list)
    retried: int = 0
    shards_reused: int = 0
    cache_hits: Counter = field(default_factory=Counter)  # specialist → outputs reused from the cache
    cache_misses: Counter = field(default_factory=Counter)  # specialist → outputs computed
    wall_s: float = 0.0

    @property
    def failed_inputs(self) -> int:
        """Planned videos with a failures row (rows of rejected manifest lines are not planned videos)."""
        return len({f.uri for f in self.failures if f.stage != "manifest"})

    @property
    def status(self) -> str:
        """succeeded: every video curated; partial: some failed; failed: every one failed, or none was found."""
        if not self.inputs or self.failed_inputs >= self.inputs:
            return "failed"
        return "partial" if self.failures else "succeeded"

    @property
    def quarantined(self) -> int:
        return sum(f.stage == "quarantine" for f in self.failures)


@dataclass
class _Split:
    """A shard whose task failed on every attempt, run again as one task per video; committed once all are back."""

    shard: Shard
    attempts: int  # tries of the whole shard's task
    parts: list[ShardResult] = field(default_factory=list)

    def add(self, part: ShardResult) -> ShardResult | None:
        """Take one video's result; the merged shard once every video is back, else None."""
        self.parts.append(part)
        if len(self.parts) < len(self.shard.items):
            return None
        merged = ShardResult(shard_id=self.shard.shard_id)
        for done in self.parts:
            merged.absorb(done)
        merged.retried = len(self.shard.items)
        return merged


@task(cache_policy=NO_CACHE)
def preflight(config: CurateConfig) -> None:
    """Fail the run before any shard when something it needs is missing (flows/preflight.py), naming all of it."""
    require_ready(config)


@task
def ensure_default_data(config: CurateConfig) -> None:
    """Render the synthetic all-scale default set into the data root when it holds nothing else (and is the
    default data root, if absent); an interrupted rendering is completed (finished scenes are kept)."""
    from sources.synthetic import generate_default_dataset  # noqa: PLC0415

    if not renders_default_set(config):
        return
    get_run_logger().info("rendering the default set into %s (%d scenes per tier)", config.data_root,
                          config.scenes_per_tier)
    generate_default_dataset(config.data_root, scenes_per_tier=config.scenes_per_tier)


@task(cache_policy=NO_CACHE)
def discover_videos(config: CurateConfig) -> Iterable[VideoItem]:
    """The items to curate, read lazily as shards are planned: the manifest's rows (the file is checked now), or
    the items of `config.source`, or of every source whose layout is under the data root (sources/registry.py)."""
    if not config.data_root.is_dir():
        raise FileNotFoundError(f"data root {config.data_root} does not exist or is not a directory")
    return _videos(config)


def _videos(config: CurateConfig) -> Iterable[VideoItem]:
    if config.manifest is not None:
        return VideoManifest(config.data_root / config.manifest, config.data_root)
    return chain(registry.discover(config.data_root, config.source))  # a task's returned generator is drained



VACUUM_EVERY_SHARDS = 50
"""A run vacuums superseded files after this many committed shards (orphans wait for its closing vacuum)."""


@task(cache_policy=NO_CACHE)  # its input hash would consume the stream of shards
def run_shards(shards: ShardPlanner, config: CurateConfig, run_id: str) -> RunSummary:
    """Fan shards out to Ray with a bounded number in flight and commit each as it completes, as a task of its
    own (`record_shard`). A shard committed before with the same fingerprint is reused as it is; a shard whose
    task fails on every attempt (its worker died, or it crashed) is run again as one task per video, so that only
    the culprit is quarantined. Progress goes to the console and to the `curate-progress` artifact."""
    import ray  # noqa: PLC0415 (after quiet_environment)

    layout = OutputLayout(config.output_root)
    summary = RunSummary(run_id=run_id, data_root=str(config.data_root))
    committed = _committed_shards(layout)
    fingerprints: dict[str, str] = {}  # of the shards in flight
    progress = _ShardProgress(run_id, shards)
    planned = _shards_to_run(iter(shards), config, committed, fingerprints, summary, progress)
    queue: list[Shard] = []  # the one-video parts of a split shard, run before the next planned shard
    remote = ray.remote(num_cpus=1, max_retries=config.max_attempts - 1)(curate_shard)
    specialists = _specialist_runners(config)
    pending: dict = {}
    splits: dict[str, _Split] = {}
    commits = 0
    with progress:
        while True:
            while len(pending) < config.max_shards_in_flight and (
                    shard := queue.pop(0) if queue else next(planned, None)) is not None:
                pending[remote.remote(shard, config, run_id, specialists)] = shard
            if not pending:
                break
            done, _ = ray.wait(list(pending), num_returns=1)
            shard = pending.pop(done[0])
            split = splits.get(shard.shard_id)
            try:
                result = ray.get(done[0])
            except Exception as err:  # the worker died or the task crashed, on every attempt Ray made
                attempts = 1 if isinstance(err, ray.exceptions.RayTaskError) else config.max_attempts
                if split is None and len(shard.items) > 1:
                    splits[shard.shard_id] = _Split(shard, attempts)
                    queue[:0] = [Shard(shard_id=shard.shard_id, items=(item,)) for item in shard.items]
                    continue
                result = _quarantined(layout, shard, run_id, err, attempts, split.attempts if split else 0)
            if split is not None:
                result = split.add(result)
                if result is None:
                    continue
                shard = split.shard  # all of its videos are back
            videos = f"{len(shard.items)} video{'s' if len(shard.items) != 1 else ''}"
            record_shard.with_options(task_run_name=f"shard {shard.shard_id} ({videos})")(
                layout, result, fingerprints.pop(shard.shard_id), run_id, stale=shard.shard_id in committed,
                return_state=True)
            _tally(summary, result)
            progress.advance(len(shard.items), f"shard {shard.shard_id} committed")
            commits += 1
            if commits % VACUUM_EVERY_SHARDS == 0:
                vacuum(layout, VACUUM_GRACE, sweep_orphans=False)
    return summary


@task(cache_policy=NO_CACHE)
def record_shard(layout: OutputLayout, result: ShardResult, fingerprint: str, run_id: str, stale: bool) -> State:
    """Commit one curated shard and log what it gave; Completed, "Partial" when some of its videos failed and it
    still gave QA, Failed when videos failed and it gave none."""
    commit_result(layout, result, fingerprint, run_id, stale)
    logger = get_run_logger()
    counts = result.row_counts
    logger.info("shard %s: %d videos, %d scenes, %d QA, %d rejects, %d failures, %d retried", result.shard_id,
                counts["videos"], counts["scenes"], counts["qa"], counts["rejects"], len(result.failures),
                result.retried)
    for failure in result.failures:
        logger.warning("FAILED %s [%s] %s", failure.uri, failure.stage, failure.message)
    failed = len({f.uri for f in result.failures})
    if not failed:
        return Completed(message=f"{counts['qa']} QA")
    if counts["qa"]:
        return Completed(name="Partial", message=f"{failed} videos failed, {counts['qa']} QA")
    return Failed(message=f"{failed} videos failed, no QA")


class _ShardProgress:
    """A run's progress in videos done of those planned: a console bar and the `curate-progress` Prefect artifact,
    advanced as each shard is committed or reused. The total is the planner's count, the run's total once its one
    pass of discovery has finished ("planned so far" until then)."""

    def __init__(self, run_id: str, planner: ShardPlanner):
        self.run_id, self.planner, self.done = run_id, planner, 0
        self.artifact = create_progress_artifact(0.0, key="curate-progress", description=f"run {run_id}: 0 videos")
        self.bar = Progress(TextColumn("curating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        self.task = self.bar.add_task("videos", total=None)

    def __enter__(self) -> _ShardProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc) -> None:
        self.bar.stop()

    def advance(self, videos: int, event: str) -> None:
        self.done += videos
        total, so_far = self.planner.videos, "" if self.planner.finished else " planned so far"
        self.bar.update(self.task, advance=videos, total=total)
        update_progress_artifact(self.artifact, min(100.0, 100.0 * self.done / max(total, 1)),
                                 description=f"run {self.run_id}: {self.done} of {total} videos{so_far} ({event})")


MAX_BATCHES_IN_FLIGHT = 4
"""Keyframe batches one video may have outstanding at a specialist actor."""


def _specialist_runners(config: CurateConfig) -> Specialists | None:
    """Ray actor runners for every tier of the run's specialist profile, one actor per distinct model
    configuration (tiers sharing a depth model share its actor), with the reasons of those that cannot run; None
    when the run names no profile."""
    if config.specialists is None:
        return None
    profile = load_profile(config.specialists)
    actors = {key: actor_runners(alone, MAX_BATCHES_IN_FLIGHT) for key, alone in run_models(profile).items()}

    def tier_specialists(tier_profile: TierProfile) -> TierSpecialists:
        runners = {}
        for alone in single_models(tier_profile):
            runners.update(actors[alone.model_dump_json()])
        return TierSpecialists(profile=tier_profile, runners=runners, unavailable=unavailable(tier_profile))

    return Specialists(default=tier_specialists(profile.default),
                       tiers={tier: tier_specialists(p) for tier, p in profile.tiers.items()})


@task(cache_policy=NO_CACHE)
def record_rejected_rows(config: CurateConfig, manifest: VideoManifest, run_id: str) -> list[FailureRow]:
    """The manifest rows skipped while planning, as `failures` rows (stage "manifest"); they are one shard per
    manifest file, so a re-run replaces them."""
    layout = OutputLayout(config.output_root)
    failures = [FailureRow(run_id=run_id, uri=row.uri or f"{manifest.path.name} {row.position}", scene_id=None,
                           video_id=None, stage="manifest", error_type="ManifestRowError", message=row.message)
                for row in manifest.rejected]
    shard = f"manifest-{sha256(str(manifest.path).encode()).hexdigest()[:16]}"
    staged = stage_table(layout, "failures", to_arrow(failures, FailureRow), shard) if failures else []
    commit_shard(layout, "failures", shard, staged, run_id)
    return failures


@task
def record_run(config: CurateConfig, summary: RunSummary, started: datetime) -> None:
    layout = OutputLayout(config.output_root)
    row = RunRow(run_id=summary.run_id, started_at=started, finished_at=datetime.now(UTC), status=summary.status,
                 data_root=str(config.data_root), config_json=config.model_dump_json(),
                 n_videos=summary.videos, n_scenes=summary.scenes, n_qa=summary.qa, n_rejects=summary.rejects,
                 n_failures=len(summary.failures), wall_s=summary.wall_s, n_retried=summary.retried,
                 n_quarantined=summary.quarantined, n_shards_reused=summary.shards_reused,
                 n_cache_hits=sum(summary.cache_hits.values()), n_cache_misses=sum(summary.cache_misses.values()))
    commit_shard(layout, "runs", summary.run_id, stage_table(layout, "runs", to_arrow([row], RunRow),
                                                             summary.run_id), summary.run_id)
    compact_tables(layout, config.compact_min_files)
    refresh_catalog(layout)
    vacuum(layout, VACUUM_GRACE)


@task
def publish_summary(summary: RunSummary) -> None:
    """The run's QA counts per tier × task as a Prefect table artifact."""
    tiers, tasks = _tiers_and_tasks(summary)
    table = [{"task_type": t, **{tier: summary.qa_by_tier_task.get((tier, t), 0) for tier in tiers}}
             for t in tasks]
    create_table_artifact(key="curate-summary", table=table,
                          description=f"run {summary.run_id}: {summary.videos} videos, {summary.scenes} scenes, "
                                      f"{summary.qa} QA, {summary.rejects} rejects, {len(summary.failures)} "
                                      f"failures ({summary.quarantined} quarantined), {summary.retried} "
                                      f"retried, {summary.shards_reused} shards reused, {summary.wall_s:.1f} s")


@task
def publish_failures(summary: RunSummary) -> None:
    """The run's failed videos as a Prefect table artifact (empty when none failed, so the key's latest version
    is always this run's)."""
    table = [{"uri": f.uri, "scene_id": f.scene_id, "stage": f.stage, "error_type": f.error_type,
              "attempts": f.attempts, "message": f.message} for f in summary.failures]
    create_table_artifact(key="curate-failures", table=table,
                          description=f"run {summary.run_id}: {summary.failed_inputs} of {summary.inputs} videos "
                                      f"failed, {len(summary.failures)} failures rows")


BASE_MODEL_VARIABLE = "spacevista_base_model"
"""The Prefect variable naming the base model to train on fresh QA; while it is unset, no training is asked for."""


@task
def announce_qa(config: CurateConfig, summary: RunSummary) -> None:
    """Emit `spacevista.qa.curated` for a run that produced QA; it carries the `spacevista.base-model` label, which
    the `train` deployment's trigger (prefect.yaml) requires, only when the Prefect variable names a base model."""
    from prefect.events import emit_event  # noqa: PLC0415
    from prefect.variables import Variable  # noqa: PLC0415

    base_model = Variable.get(BASE_MODEL_VARIABLE, default=None)
    resource = {"prefect.resource.id": f"spacevista.output.{config.output_root}",
                "prefect.resource.name": str(config.output_root)}
    if base_model:
        resource["spacevista.base-model"] = str(base_model)
    emit_event("spacevista.qa.curated", resource=resource,
               payload={"run_id": summary.run_id, "status": summary.status, "qa": summary.qa,
                        "output_root": str(config.output_root), "base_model": base_model})
    get_run_logger().info("announced %d QA in %s%s", summary.qa, config.output_root,
                          f"; training on {base_model} is asked for" if base_model else
                          f"; no training asked for (Prefect variable {BASE_MODEL_VARIABLE} unset)")


@flow(name="curate")
def curate(config: CurateConfig, preflight_done: bool = False) -> State:
    """Check the run can start (unless the caller has just run `flows.preflight.check` on this config, as the CLI
    does before starting anything), discover videos, plan shards, curate them on Ray, commit tables, refresh the
    catalog, summarize. Ends Completed when every video was curated, Completed named "Partial" when some failed,
    Failed when all failed or none was found; the state's result is the RunSummary either way."""
    started = datetime.now(UTC)
    run_id = f"run-{started:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    config = resolved(config)
    if not preflight_done:
        preflight(config)
    if config.generate_default_data:
        ensure_default_data(config)
    videos = discover_videos(config)
    with ray_session(config.ray_address, config.ray_num_cpus, warm=WORKER_MODULES):  # the CLI's session if up
        # planned by one pass of discovery, ahead of run_shards (a task's return value cannot be a generator)
        summary = run_shards(ShardPlanner(videos, config.shard_size, config.data_root), config, run_id)
    if config.manifest is not None:
        summary.failures.extend(record_rejected_rows(config, videos, run_id))
    summary.wall_s = (datetime.now(UTC) - started).total_seconds()
    record_run(config, summary, started)
    publish_summary(summary)
    publish_failures(summary)
    get_run_logger().info("run %s %s: %d videos, %d QA, %d rejects, %d failures", run_id, summary.status,
                          summary.videos, summary.qa, summary.rejects, len(summary.failures))
    if summary.status != "failed" and summary.qa:
        announce_qa(config, summary)
    return final_state(summary)


def resolved(config: CurateConfig) -> CurateConfig:
    """The config with its local paths absolute and symlink-free, so that a deployment run (relative paths from
    the checkout) and the CLI (absolute paths) record the same data root and reuse each other's shards."""
    paths = {name: getattr(config, name).resolve() for name in ("data_root", "output_root", "specialists")
             if isinstance(getattr(config, name), Path)}
    return config.model_copy(update=paths)


def final_state(summary: RunSummary) -> State:
    """The flow run's final state, holding the summary."""
    message = (f"{summary.inputs - summary.failed_inputs} of {summary.inputs} videos curated, {summary.qa} QA, "
               f"{len(summary.failures)} failures")
    if summary.status == "succeeded":
        return Completed(message=message, data=summary)
    if summary.status == "partial":
        return Completed(name="Partial", message=message, data=summary)
    if not summary.inputs and not summary.failures:
        message = f"no videos found under {summary.data_root}"
    return Failed(message=message, data=summary)


def _shards_to_run(shards: Iterable[Shard], config: CurateConfig, committed: dict[str, ShardRow],
                   fingerprints: dict[str, str], summary: RunSummary, progress: _ShardProgress) -> Iterator[Shard]:
    """The planned shards that need curating, pulled one at a time (their fingerprints noted in `fingerprints`);
    a shard committed before with the same fingerprint is tallied as reused instead."""
    for shard in shards:
        summary.inputs += len(shard.items)
        fingerprint = shard_fingerprint(shard, config)
        record = committed.get(shard.shard_id)
        if record is not None and record.fingerprint == fingerprint:
            _tally(summary, ShardResult.reused(record))
            summary.shards_reused += 1
            progress.advance(len(shard.items), f"shard {shard.shard_id} reused")
        else:
            fingerprints[shard.shard_id] = fingerprint
            yield shard


def _committed_shards(layout: OutputLayout) -> dict[str, ShardRow]:
    """The `shards` records under the output root, by shard id."""
    records = query(layout, "SELECT * FROM shards").to_pylist()
    return {row.shard_id: row for row in (from_record(record, ShardRow) for record in records)}


def _quarantined(layout: OutputLayout, shard: Shard, run_id: str, err: Exception, attempts: int,
                 shard_attempts: int) -> ShardResult:
    """A one-video task that failed on every attempt (after `shard_attempts` tries of the shard it came from): its
    `failures` row, staged."""
    item, = shard.items
    message = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
    total = attempts + shard_attempts
    failure = FailureRow(run_id=run_id, uri=item.uri, scene_id=item.scene_id, video_id=None, stage="quarantine",
                         error_type=type(err).__name__, attempts=total,
                         message=f"its Ray task failed on all {total} attempts"
                                 f"{f' ({shard_attempts} with its whole shard)' if shard_attempts else ''}: {message}")
    return ShardResult(shard_id=shard.shard_id, retried=int(total > 1), failures=[failure],
                       row_counts=Counter(failures=1),
                       staged=stage_table(layout, "failures", to_arrow([failure], FailureRow), shard.shard_id))


def _tally(summary: RunSummary, result: ShardResult) -> None:
    summary.videos += result.row_counts["videos"]
    summary.scenes += result.row_counts["scenes"]
    summary.qa += result.row_counts["qa"]
    summary.rejects += result.row_counts["rejects"]
    summary.qa_by_tier_task.update(result.qa_counts)
    summary.drops.update(result.drops)
    summary.failures.extend(result.failures)
    summary.retried += result.retried
    summary.cache_hits.update(result.cache_hits)
    summary.cache_misses.update(result.cache_misses)


def _tiers_and_tasks(summary: RunSummary) -> tuple[list[str], list[str]]:
    return (sorted({tier for tier, _ in summary.qa_by_tier_task}),
            sorted({task_type for _, task_type in summary.qa_by_tier_task}))


def format_summary(summary: RunSummary) -> str:
    """The end-of-run report: totals, QA per task × tier, gate drops, and every failure with its reason."""
    tiers, tasks = _tiers_and_tasks(summary)
    width = max([len(t) for t in tasks] + [9])
    lines = [f"run {summary.run_id}: {summary.status}",
             f"videos {summary.videos}  scenes {summary.scenes}  qa {summary.qa}  rejects {summary.rejects}  "
             f"failures {len(summary.failures)}  wall {summary.wall_s:.1f} s",
             f"retried {summary.retried}  quarantined {summary.quarantined}  shards reused {summary.shards_reused}  "
             f"specialist cache hits {sum(summary.cache_hits.values())}  misses {sum(summary.cache_misses.values())}",
             "",
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

