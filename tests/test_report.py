"""`spacevista report`: the dataset page's content checked against the catalog, then the page opened in headless
Chromium (no console errors, plots rendered, nothing fetched)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import EXIT_OK, EXIT_USAGE, main
from report.browser import CHROMIUM, check_page
from report.build import ReportConfig, build_report
from report.data import NumericAnswers, ReportError, tier_value
from report.plots import answer_distributions
from schemas.arrow import to_arrow
from schemas.qa import TASK_TIERS, RejectRow
from schemas.runs import FailureRow
from storage.catalog import query
from storage.commits import commit_shard, stage_table
from storage.layout import OutputLayout
from tests.conftest import REPO

HEATMAP_CELL = re.compile(r'<g id="qa-count-(?P<tier>[a-z_]+)-(?P<task>[a-z_]+)">\s*<text[^>]*>(?P<n>\d+)</text>')
TOTAL = re.compile(r'id="total-(?P<name>[a-z]+)"><div class="n">(?P<n>[\d,]+)</div>')
SAMPLE = re.compile(r'<div class="sample" data-qa-id="(?P<qa_id>[^"]+)">(?P<card>.*?)</div></div>', re.S)


def _report_cli(output: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", "report", "--output", str(output), "--out", str(out)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def page(default_run, tmp_path_factory) -> Path:
    """The report of the default run, written by the real command (Prefect flow inside)."""
    out = tmp_path_factory.mktemp("report") / "report.html"
    proc = _report_cli(default_run.output, out)
    assert proc.returncode == EXIT_OK, proc.stderr[-3000:]
    assert f"written to {out}" in proc.stdout
    return out


def test_lengths_are_shown_in_the_tier_unit_and_other_quantities_in_si():
    assert tier_value("tabletop", "cm", 0.25) == (25.0, "cm")
    assert tier_value("tiny_tabletop", "mm", 0.012) == pytest.approx((12.0, "mm"))
    assert tier_value("drone", "km", 1500.0) == (1500.0, "m")
    assert tier_value("drone", "m2", 2500.0) == (2500.0, "m²")
    assert tier_value("indoor", "count", 3.0) == (3.0, "count")


def test_an_output_root_without_tables_is_refused_with_exit_2(tmp_path, capsys):
    with pytest.raises(ReportError, match="no curated tables.*run `spacevista curate"):
        build_report(ReportConfig(output_root=tmp_path / "empty", out_path=tmp_path / "r.html"))
    assert main(["report", "--output", str(tmp_path / "empty"), "--out", str(tmp_path / "r.html")]) == EXIT_USAGE
    assert f"{tmp_path / 'empty'}: no curated tables" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists() and not (tmp_path / "empty").exists()


@pytest.mark.e2e
def test_header_totals_and_heatmap_cells_match_the_catalog(page, default_run):
    html = page.read_text()
    layout = OutputLayout(default_run.output)
    (counts,) = query(layout, "SELECT (SELECT count(*) FROM videos) AS videos, (SELECT count(*) FROM scenes) AS "
                              "scenes, (SELECT count(*) FROM qa) AS qa, (SELECT count(*) FROM rejects) AS rejects, "
                              "(SELECT count(*) FROM failures) AS failures").to_pylist()
    totals = {m["name"]: int(m["n"].replace(",", "")) for m in TOTAL.finditer(html)}
    assert totals == counts and counts["qa"] > 0
    (run_id,) = query(layout, "SELECT run_id FROM runs").column("run_id").to_pylist()
    assert run_id in html

    expected = {(r["scale"], r["task_type"]): r["n"] for r in query(
        layout, "SELECT scale, task_type, count(*) AS n FROM qa GROUP BY ALL").to_pylist()}
    cells = {(m["tier"], m["task"]): int(m["n"]) for m in HEATMAP_CELL.finditer(html)}
    asked = {(tier.value, task.value) for task, tiers in TASK_TIERS.items() for tier in tiers}
    assert set(cells) == asked
    assert cells == {cell: expected.get(cell, 0) for cell in asked}


@pytest.mark.e2e
def test_plots_and_drawn_sample_frames_are_inline(page, default_run):
    html = page.read_text()
    for plot in ("heatmap", "answers", "scales", "drops"):
        assert re.search(rf'<figure class="plot" id="plot-{plot}"><svg', html), plot
    assert 'id="empty-rejects"' in html and 'id="empty-failures"' in html

    (top,) = query(OutputLayout(default_run.output), (
        "SELECT d.task_type, d.reason, sum(d.n) AS n FROM (SELECT unnest(drops) AS d FROM shards) "
        "GROUP BY ALL ORDER BY n DESC, d.task_type, d.reason LIMIT 1")).to_pylist()
    drops = re.search(r'<figure class="plot" id="plot-drops">.*?</figure>', html, re.S).group(0)
    assert f"{top['task_type']} · {top['reason']}" in drops and f">{top['n']}<" in drops, top
    assert not re.search(r'(src|href)="(?!data:|#)', html), "the page refers to something outside itself"

    layout = OutputLayout(default_run.output)
    samples = {m["qa_id"]: m["card"] for m in SAMPLE.finditer(html)}
    rows = {r["qa_id"]: r for r in query(layout, "SELECT qa_id, scale, visual_prompts, map_extract(query, "
                                                 "'video_frame') AS asked, video_frame_numbers FROM qa WHERE "
                                                 "list_contains(?, qa_id)", [list(samples)]).to_pylist()}
    assert set(rows) == set(samples)
    per_tier = {tier: sum(r["scale"] == tier for r in rows.values()) for tier in {r["scale"] for r in rows.values()}}
    assert len(per_tier) == 5 and set(per_tier.values()) == {2}
    for qa_id, card in samples.items():
        row = rows[qa_id]
        shown = [int(n) for n in re.findall(r"<figcaption>Frame (\d+)", card)]
        prompted = {p["frame"] for p in row["visual_prompts"]}
        asked = {row["video_frame_numbers"].index(int(f)) + 1 for f in row["asked"]}
        n_frames = len(row["video_frame_numbers"])
        assert card.count('src="data:image/jpeg;base64,') == len(shown) == min(4, n_frames), qa_id
        assert set(sorted(prompted | asked)[:4]) <= set(shown) and shown == sorted(shown), (qa_id, shown, prompted)
        assert {int(n) for n in re.findall(r"Frame (\d+) · prompt", card)} == prompted & set(shown), qa_id


@pytest.mark.e2e
def test_rejects_and_failures_are_plotted_and_listed(default_run, tmp_path):
    root = Path(shutil.copytree(default_run.output, tmp_path / "out", ignore=shutil.ignore_patterns("artifacts")))
    layout = OutputLayout(root)
    failures = [FailureRow(run_id="r", uri=f"videos/broken_{i}.mp4", scene_id=None, video_id=None, stage="probe",
                           error_type="DECORDError", message="cannot find video stream") for i in range(3)]
    rejects = [RejectRow(run_id="r", scene_id="indoor_000", task_type="object_size", qa_id=None,
                         reason="answer.value_si: Input should be greater than 0", payload_json="{}")] * 4
    for table, rows, model in (("failures", failures, FailureRow), ("rejects", rejects, RejectRow)):
        commit_shard(layout, table, "planted", stage_table(layout, table, to_arrow(rows, model), "planted"), "r")

    summary = build_report(ReportConfig(output_root=root, out_path=tmp_path / "report.html"))
    html = (tmp_path / "report.html").read_text()
    assert {"rejects", "failures"} <= set(summary.plots)
    assert re.search(r'<figure class="plot" id="plot-failures">.*probe · DECORDError.*>3<', html, re.S)
    assert re.search(r'<figure class="plot" id="plot-rejects">.*object_size · answer\.value_si.*>4<', html, re.S)
    assert all(f"videos/broken_{i}.mp4" in html for i in range(3))
    assert html.count('<div class="error">') == summary.n_samples, "frames are gone: each sample says so"


@pytest.mark.e2e
@pytest.mark.skipif(not CHROMIUM.exists(), reason=f"Debian's chromium is not installed at {CHROMIUM}")
def test_the_page_renders_in_headless_chromium_without_errors(page, tmp_path):
    check = check_page(page, screenshot=tmp_path / "report.png")
    assert not [m for m in check.console if m[0] == "error"] and not check.page_errors, (check.console,
                                                                                        check.page_errors)
    assert check.requests == []
    assert set(check.plot_sizes) == {"plot-heatmap", "plot-answers", "plot-scales", "plot-drops"}
    assert all(w > 600 and h > 200 for w, h in check.plot_sizes.values()), check.plot_sizes
    assert check.images and all(w > 0 and h > 0 for w, h in check.images)
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_task_asked_in_two_quantities_gets_one_row_per_quantity():
    svg = answer_distributions([NumericAnswers("room_size", "m2", "indoor", "m²", [20.0, 26.0]),
                                NumericAnswers("room_size", "m3", "indoor", "m³", [55.0]),
                                NumericAnswers("object_size", "length", "tabletop", "cm", [12.0, 30.0, 31.0])])
    labels = [" ".join(text.split()) for text in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    assert labels.count("(m2)") == 1 and labels.count("(m3)") == 1 and "(length)" not in labels
    assert {"m² · n=2", "m³ · n=1", "cm · n=3"} <= set(labels)

