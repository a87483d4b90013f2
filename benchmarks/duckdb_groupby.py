"""DuckDB group-by latency over ≥ 1M QA rows in the catalog's hive-partitioned Parquet layout.

Uses the tables written by `benchmarks.qa_throughput --output DIR` (DIR/validated), or builds ≥ 1M rows by
committing copies of a seed batch of real generated rows under new ids (the layout and column contents are
what curate writes; only qa_id is varied).

    .venv/bin/python -m benchmarks.duckdb_groupby [--tables DIR] [--rows 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from qa_templates.generate import generate_scene_qa
from schemas.arrow import to_arrow
from schemas.qa import QARow
from storage.catalog import open_catalog, refresh_catalog
from storage.commits import commit_shard, read_manifest, stage_table
from storage.layout import OutputLayout

QUERIES = {
    "count per tier × task": "SELECT scale, task_type, count(*) FROM qa GROUP BY ALL",
    "mean numeric answer per tier × task": "SELECT scale, task_type, avg(answer.value_si), "
                                           "quantile_cont(answer.value_si, 0.5) FROM qa "
                                           "WHERE answer.kind = 'numeric' GROUP BY ALL",
    "MC letter balance per task": "SELECT task_type, answer.correct_letter, count(*) FROM qa "
                                  "WHERE answer.kind = 'multiple_choice' GROUP BY ALL",
    "one partition (pruned)": "SELECT input_type, count(*) FROM qa WHERE scale = 'drone' "
                              "AND task_type = 'area_estimation' GROUP BY ALL",
}


def build(layout: OutputLayout, rows: int) -> None:
    from benchmarks.qa_throughput import scene_pool  # noqa: PLC0415

    seed_rows = [r for facts in scene_pool() for r in generate_scene_qa(facts, "bench").rows]
    base = to_arrow(seed_rows, QARow)
    copies = rows // base.num_rows + 1
    for copy in range(copies):
        ids = pc.binary_join_element_wise(base["qa_id"], pa.scalar(f"-{copy}"), "")
        table = base.set_column(base.schema.get_field_index("qa_id"), "qa_id", ids)
        commit_shard(layout, "qa", f"copy{copy}", stage_table(layout, "qa", table, f"copy{copy}"), "bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tables", type=Path, default=None, help="an output root with a qa table")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    layout = OutputLayout(args.tables or Path(tempfile.mkdtemp(prefix="spacevista-duckdb-bench-")))
    if not read_manifest(layout, "qa")["files"]:
        start = time.perf_counter()
        build(layout, args.rows)
        print(f"built the qa table in {time.perf_counter() - start:.1f} s")
    refresh_catalog(layout)
    manifest = read_manifest(layout, "qa")
    files = len(manifest["files"])
    with open_catalog(layout) as con:
        total = con.execute("SELECT count(*) FROM qa").fetchone()[0]
        print(f"{total:,} QA rows in {files} Parquet files")
        for name, sql in QUERIES.items():
            timings = []
            for _ in range(args.repeats):
                start = time.perf_counter()
                con.execute(sql).fetchall()
                timings.append(time.perf_counter() - start)
            print(f"{name:38s} median {statistics.median(timings) * 1000:8.1f} ms  "
                  f"(min {min(timings) * 1000:.1f}, {args.repeats} runs)")


if __name__ == "__main__":
    main()
