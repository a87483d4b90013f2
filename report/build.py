"""Build the dataset report of an output root and write it as one HTML file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from pyarrow.fs import LocalFileSystem
from pydantic import BaseModel, ConfigDict, Field

from report.data import load_report_data
from report.html import render_page
from report.plots import answer_distributions, qa_heatmap, reason_bars, scale_ranges
from report.samples import sample_views
from storage.filesystem import write_bytes
from storage.layout import OutputLayout


class ReportConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    output_root: Path = Field(description="a curate output root; its catalog tables are reported")
    out_path: Path = Field(description="the HTML file to write")
    samples_per_tier: int = Field(default=2, ge=0, le=20, description="sample QA shown per tier")


class ReportSummary(BaseModel):
    model_config = ConfigDict(frozen=True)

    out_path: str
    n_bytes: int
    plots: list[str]
    n_samples: int
    n_qa: int


def build_report(config: ReportConfig) -> ReportSummary:
    """Query the catalog, draw the plots and samples, and publish the page in one rename."""
    layout = OutputLayout(config.output_root)
    data = load_report_data(layout, config.samples_per_tier)
    plots = {"heatmap": qa_heatmap(data.qa_counts), "scales": scale_ranges(data.object_sizes_m,
                                                                           data.scene_extents_m)}
    if data.numeric_answers:
        plots["answers"] = answer_distributions(data.numeric_answers)
    if data.reject_reasons:
        plots["rejects"] = reason_bars(data.reject_reasons)
    if data.gate_drops:
        plots["drops"] = reason_bars(data.gate_drops)
    if data.failure_stages:
        plots["failures"] = reason_bars(data.failure_stages)
    samples = sample_views(data.samples, layout)
    page = render_page(data, plots, samples, datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    write_bytes(LocalFileSystem(), str(config.out_path.absolute()), page.encode())
    return ReportSummary(out_path=str(config.out_path), n_bytes=len(page.encode()), plots=sorted(plots),
                         n_samples=len(samples), n_qa=data.totals.qa)
