"""`report`: an output root's catalog → one self-contained HTML page (totals, plots, sample QA)."""

from __future__ import annotations

from runtime.offline import quiet_environment

quiet_environment()

from prefect import flow, get_run_logger, task  # noqa: E402

from report.build import ReportConfig, ReportSummary, build_report  # noqa: E402


@task
def write_report(config: ReportConfig) -> ReportSummary:
    return build_report(config)


@flow(name="report")
def report(config: ReportConfig) -> ReportSummary:
    """Query the catalog, draw the plots and sample QA, write the page."""
    summary = write_report(config)
    get_run_logger().info("report of %d QA written to %s (%d bytes; plots %s; %d samples)", summary.n_qa,
                          summary.out_path, summary.n_bytes, ", ".join(summary.plots), summary.n_samples)
    return summary
