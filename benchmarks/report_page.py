"""Dataset report build time over a curate output root, against the catalog queries alone measured in the same
run, the page's size, and its load + full-page screenshot in headless Chromium (`--screenshot` keeps the PNG;
docs/report.jpg is one, downscaled).

    .venv/bin/python -m benchmarks.report_page --output OUTPUT [--screenshot report.png]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from report.browser import check_page
from report.build import ReportConfig, build_report
from report.data import load_report_data
from storage.layout import OutputLayout


def median_s(step, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, required=True, help="a curate output root")
    parser.add_argument("--screenshot", type=Path, default=None, help="where to keep the full-page PNG")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="spacevista-report-bench-"))
    config = ReportConfig(output_root=args.output.absolute(), out_path=work / "report.html")
    queries = median_s(lambda: load_report_data(OutputLayout(config.output_root)), args.repeats)
    build = median_s(lambda: build_report(config), args.repeats)
    summary = build_report(config)
    start = time.perf_counter()
    check = check_page(config.out_path, args.screenshot or work / "report.png")
    browser = time.perf_counter() - start
    errors = [text for kind, text in check.console if kind == "error"] + check.page_errors
    print(f"output root {config.output_root}: {summary.n_qa} QA, {summary.n_samples} sample QA, "
          f"plots {', '.join(summary.plots)}")
    print(f"catalog queries alone (baseline)      {queries:7.2f} s")
    print(f"whole report build                    {build:7.2f} s   {build / queries:5.1f}× the queries "
          f"(plots, sample frames, HTML; medians of {args.repeats})")
    print(f"page size                             {summary.n_bytes / 1e6:7.2f} MB  "
          f"({len(check.images)} inline frames, {len(check.plot_sizes)} plots)")
    print(f"Chromium load + full-page screenshot  {browser:7.2f} s   console errors: {len(errors)}, "
          f"outside requests: {len(check.requests)}")
    if args.screenshot:
        print(f"screenshot: {args.screenshot}")


if __name__ == "__main__":
    main()
