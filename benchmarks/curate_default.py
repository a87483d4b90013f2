"""Wall time and peak memory of `spacevista curate` on the default set (rendered first, timed separately).

Peak RSS is the largest sum of resident memory over the whole process tree (driver, Prefect's temporary server,
Ray's daemons and workers), sampled every 100 ms.

    .venv/bin/python -m benchmarks.curate_default [--work DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil


def tree_rss(root: psutil.Process) -> int:
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


def timed(command: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak tree RSS in bytes, exit code) of a command."""
    start = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, tree_rss(root))
        except psutil.NoSuchProcess:
            break
        time.sleep(0.1)
    return time.perf_counter() - start, peak, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--work", type=Path, default=None, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="spacevista-bench-"))
    data, cli = work / "data", [sys.executable, "-m", "flows.cli"]
    render = [sys.executable, "-c", "from pathlib import Path; from sources.synthetic import "
              f"generate_default_dataset as g; g(Path({str(data)!r}), scenes_per_tier=2)"]
    wall, peak, code = timed(render)
    print(f"render default set (10 scenes):       {wall:7.1f} s   peak RSS {peak / 2**30:5.2f} GiB   exit {code}")
    for label in ("curate, first run (cold Prefect)", "curate, second run (same output)"):
        wall, peak, code = timed([*cli, "curate", "--data-root", str(data), "--output", str(work / "out"),
                                  "--no-default-data"])
        print(f"{label:38s}{wall:7.1f} s   peak RSS {peak / 2**30:5.2f} GiB   exit {code}")


if __name__ == "__main__":
    main()
