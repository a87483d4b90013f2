"""Score parity on the benchmark: our per-sample scores against the SpaceVista authors' published scoring rules
(reimplemented in tests/seed_scoring.py) for predictions perfect, ×1.07, ×1.3, ×2, wrong-letter and mixed, with every
per-sample difference explained by one of the rules of docs/SCORING.md.

    .venv/bin/python -m benchmarks.score_parity [--output ROOT] [--work DIR]

With --output, the `benchmark` table of that curated output root is scored. Without it, the default set is rendered
into DIR/data, curated into DIR/out and indoor_001 + outdoor_001 are held out as the benchmark (the split
BENCHMARKS.md's training/evaluation figures use); a DIR that already holds them is reused.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from storage.commits import read_manifest
from storage.layout import OutputLayout
from tests.seed_scoring import SCENARIOS, compare
from training.evaluate import load_qa
from training.metrics import shown_value_si

HELD_OUT = ("indoor_001", "outdoor_001")


def default_benchmark(work: Path) -> Path:
    """A curated output root of the default set with indoor_001 and outdoor_001 held out (built when missing)."""
    data, out, cli = work / "data", work / "out", [sys.executable, "-m", "flows.cli"]
    layout = OutputLayout(out)
    if read_manifest(layout, "benchmark")["files"]:
        return out
    subprocess.run([sys.executable, "-c", "from pathlib import Path; from sources.synthetic import "
                    f"generate_default_dataset as g; g(Path({str(data)!r}), scenes_per_tier=2)"], check=True)
    subprocess.run([*cli, "curate", "--data-root", str(data), "--output", str(out), "--no-default-data"], check=True)
    subprocess.run([*cli, "benchmark", "--data-root", str(data), "--output", str(out),
                    *[arg for scene in HELD_OUT for arg in ("--scene", scene)]], check=True)
    return out


def parity_table(output: Path) -> str:
    rows, problems = load_qa(OutputLayout(output), "benchmark")
    if problems:
        raise SystemExit(f"{output}: {len(problems)} benchmark rows fail validation, e.g. {problems[0].error}")
    kinds = Counter(row.answer.kind for row in rows)
    lines = [f"benchmark of {output}: {len(rows)} QA ({kinds['multiple_choice']} multiple choice, "
             f"{kinds['numeric']} numeric)", "",
             "| predictions | ours (per sample) | authors' | differences | unexplained | explained by |",
             "|---|---:|---:|---:|---:|---|"]
    for scenario in SCENARIOS:
        ours, theirs, differences = compare(rows, scenario)
        reasons = Counter(d.reason.split(":")[0] for d in differences if d.reason)
        unexplained = [d for d in differences if d.reason is None]
        lines.append(f"| {scenario} | {100 * sum(ours) / len(ours):.1f} | {100 * sum(theirs) / len(theirs):.1f} | "
                     f"{len(differences)} | {len(unexplained)} | "
                     f"{', '.join(f'{reason} {n}' for reason, n in reasons.most_common()) or '–'} |")
        lines += [f"    UNEXPLAINED {d.qa_id}: {d.prediction!r} vs {d.ground_truth}: ours {d.ours}, theirs {d.theirs}"
                  for d in unexplained]
    rounded = sum(row.answer.kind == "numeric" and not math.isclose(shown_value_si(row.answer), row.answer.value_si,
                                                                    rel_tol=1e-12) for row in rows)
    lines += ["", f"numeric answers whose shown value is rounded from the stored one: {rounded} of {kinds['numeric']}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=None, help="a curated output root holding a benchmark")
    parser.add_argument("--work", type=Path, default=None, help="scratch directory (default: a temporary one)")
    args = parser.parse_args()
    output = args.output or default_benchmark(args.work or Path(tempfile.mkdtemp(prefix="spacevista-parity-")))
    print(parity_table(output))


if __name__ == "__main__":
    main()
