"""`export`: a curate output root's QA (or benchmark) → an export in the spacevista or the authors' seed format."""

from __future__ import annotations

from runtime.offline import quiet_environment

quiet_environment()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_table_artifact  # noqa: E402

from schemas.export import ExportConfig  # noqa: E402
from training.export import ExportReport, export_dataset  # noqa: E402


@task
def write_export(config: ExportConfig) -> ExportReport:
    return export_dataset(config)


@task
def publish_report(report: ExportReport) -> None:
    """Rows available and taken per tier as a Prefect table artifact."""
    create_table_artifact(
        key="export-summary", table=[{"tier": t, **c.model_dump()} for t, c in report.per_tier.items()],
        description=f"{report.n_items} items in {report.export_dir}; {report.contamination.n_rows} benchmark rows "
                    f"dropped; {len(report.skipped)} rows skipped")


@flow(name="export")
def export(config: ExportConfig) -> ExportReport:
    """Filter, decontaminate against the benchmark registry, balance tiers, write the export."""
    report = write_export(config)
    publish_report(report)
    logger = get_run_logger()
    logger.info("exported %d items to %s (per tier: %s)", report.n_items, report.export_dir,
                ", ".join(f"{t} {c.exported}/{c.available}" for t, c in report.per_tier.items()))
    if report.contamination.n_rows:
        logger.warning("dropped %d rows of benchmark scenes %s", report.contamination.n_rows,
                       ", ".join(report.contamination.scene_ids))
    if report.drawn_instead:
        logger.info("%d seed items come drawn: the authors' loader would draw a prompt in another colour",
                    len(report.drawn_instead))
    for row in report.skipped:
        logger.warning("skipped %s: %s", row.qa_id, row.reason)
    return report
