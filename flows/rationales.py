"""`add-rationales`: replace template rationales of a committed QA table by a VLM's own reasoning where the model
reaches the stored answer by itself (optional curation step, off unless an endpoint is configured)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from runtime.offline import quiet_environment

quiet_environment()

from prefect import flow, get_run_logger, task  # noqa: E402

from schemas.evaluation import AddRationalesConfig  # noqa: E402
from schemas.qa import QARow  # noqa: E402
from storage.catalog import refresh_catalog  # noqa: E402
from storage.layout import OutputLayout  # noqa: E402
from training.rationales import RationaleCounts, rewrite_shard_rationales, table_shards  # noqa: E402


@task
def load_shards(config: AddRationalesConfig) -> dict[str, list[QARow]]:
    return table_shards(OutputLayout(Path(config.output_root)), config.table)


@task
def rewrite_shard(config: AddRationalesConfig, shard: str, rows: list[QARow], run_id: str) -> RationaleCounts:
    """Ask for one shard's rationales and recommit it; an endpoint outage fails the task, earlier shards stay."""
    return rewrite_shard_rationales(OutputLayout(Path(config.output_root)), config.table, shard, rows,
                                    config.rationales, run_id)


@flow(name="add-rationales")
def add_rationales(config: AddRationalesConfig) -> RationaleCounts:
    """Shard by shard: request rationales, keep the agreeing ones, recommit; then refresh the catalog."""
    if config.rationales.endpoint is None:
        get_run_logger().info("no rationale endpoint configured: nothing to do")
        return RationaleCounts()
    run_id = f"rationales-{datetime.now(UTC):%Y%m%dT%H%M%S}"
    counts = RationaleCounts()
    for shard, rows in load_shards(config).items():
        counts += rewrite_shard(config, shard, rows, run_id)
    refresh_catalog(OutputLayout(Path(config.output_root)))
    get_run_logger().info("rationales on %s: %s", config.table, counts)
    return counts
