"""Ground truth on the default set and on the wide set side by side (issue 14): per tier × task, rows, numeric MRA,
MC agreement over the rows whose truth is unambiguous, ambiguous rows excluded, rows whose prompt or name misses its
object, rows worded with identifiers or at paragraph length; then the wide set's benchmark QA (built from exact
boxes, as the benchmark split builds them) scored the same way, and the wide set's answer distribution per MC task
(share of the most frequent correct option).

Truth is decided from exact boxes, poses and masks (tests/wide_truth.py); curated rows come from the real pipeline
(`pipeline.video.curate_video`). Run: `.venv/bin/python -m benchmarks.ground_truth_wide [--scenes-per-tier 5]`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sources.synthetic import generate_default_dataset
from sources.synthetic.generate import generate_wide_dataset
from tests.wide_run import Cell, benchmark_rows, curate, score, tier_mra


def run(name: str, render, scratch: Path) -> tuple[Path, dict[tuple[str, str], Cell]]:
    """Render a set, curate it and score its rows; its data root and cells."""
    data, output = scratch / f"{name}-data", scratch / f"{name}-output"
    start = time.perf_counter()
    render(data)
    rows, failures = curate(data, output)
    cells = score(rows, data, output)
    print(f"{name}: {len(rows)} rows, {len(failures)} failures, {time.perf_counter() - start:.0f} s", flush=True)
    for failure in failures:
        print(f"  failure: {failure}")
    return data, cells


def _cell(cell: Cell | None) -> str:
    if cell is None:
        return f"{'':>4s} {'':>6s} {'':>9s} {'':>5s} {'':>6s} {'':>5s}"
    mra = f"{cell.mean_mra:.3f}" if cell.mra else "-"
    mc = f"{cell.mc_agree}/{cell.mc_checked}" if cell.mc_checked else "-"
    return f"{cell.rows:4d} {mra:>6s} {mc:>9s} {cell.ambiguous:5d} {cell.prompt_off:6d} {cell.wording_off:5d}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scenes-per-tier", type=int, default=5, help="wide-variant scenes per tier")
    parser.add_argument("--default-scenes-per-tier", type=int, default=2, help="default scenes per tier")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="spacevista-truth-wide-"))
    _, default = run("default", lambda root: generate_default_dataset(root, args.default_scenes_per_tier), scratch)
    wide_data, wide = run("wide", lambda root: generate_wide_dataset(root, args.scenes_per_tier), scratch)
    bench = score(benchmark_rows(wide_data), wide_data, wide_data)
    head = f"{'rows':>4s} {'MRA':>6s} {'MC agree':>9s} {'ambig':>5s} {'prompt':>6s} {'words':>5s}"
    print(f"\n{'tier':14s} {'task':22s} | default: {head} | wide: {head} | wide top answer | wide benchmark: {head}")
    for key in sorted(set(default) | set(wide) | set(bench)):
        share = wide[key].largest_share if key in wide and wide[key].correct_options else None
        top = "-" if share is None else f"{share:.0%} of {sum(wide[key].correct_options.values())}"
        print(f"{key[0]:14s} {key[1]:22s} |          {_cell(default.get(key))} |       {_cell(wide.get(key))} | "
              f"{top:>15s} |                 {_cell(bench.get(key))}")
    for name, cells in (("default", default), ("wide", wide), ("wide benchmark", bench)):
        print(f"numeric MRA per tier, {name}: "
              + ", ".join(f"{tier} {value:.3f}" for tier, value in sorted(tier_mra(cells).items())))
    print("\nwide set, answer distribution per MC task and tier (most frequent correct option):")
    for (tier, task), cell in sorted(wide.items()):
        if cell.correct_options:
            option = cell.correct_options.most_common(1)[0][0]
            print(f"  {tier:14s} {task:22s} {cell.largest_share:4.0%} of {sum(cell.correct_options.values()):3d}: "
                  f"{option[:70]!r}")
    for name, cells in (("wide set", wide), ("wide benchmark", bench)):
        print(f"\n{name}, rows that disagree with the truth or miss their object (first 40):")
        for line in [w for cell in cells.values() for w in cell.wrong][:40]:
            print(f"  {line}")


if __name__ == "__main__":
    main()
