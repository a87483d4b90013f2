"""Compaction (storage/compaction.py): small files merged into sorted ones keep exactly the same rows, a shard
committed again afterwards still replaces its rows, readers of the old version keep working until a vacuum, and a
compaction that dies before its commit leaves the table as it was."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import textwrap
import shutil
from collections import Counter
from datetime import timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from qa_templates.generate import generate_scene_qa
from schemas.arrow import to_arrow
from schemas.qa import QARow
from schemas.runs import FailureRow
from storage import compaction
from storage.catalog import open_catalog, query, refresh_catalog
from storage.commits import (SHARD_COLUMN, commit_shard, committed_shards, read_manifest, shard_rows, stage_table,
                             table_files, vacuum)
from storage.compaction import compact, compact_tables
from storage.layout import OutputLayout
from storage.manifests import COMPACTED
from tests.builders import tabletop_facts
from tests.conftest import run_curate

SHARDS = 6
VIDEOS_PER_SHARD = 3


@pytest.fixture(scope="module")
def seed() -> pa.Table:
    """Real QA rows of one tabletop scene."""
    return to_arrow(generate_scene_qa(tabletop_facts(), "r1").rows, QARow)


def _video_id(shard: int, video: int) -> str:
    return hashlib.sha256(f"video-{shard}-{video}".encode()).hexdigest()


def _qa(seed: pa.Table, shard: int, run: str = "r1", videos: int = VIDEOS_PER_SHARD) -> pa.Table:
    """The seed rows once per video of the shard, under the video's ids."""
    parts = []
    for video in range(videos):
        vid = _video_id(shard, video)
        replaced = {"qa_id": [f"{vid[:24]}-{k}" for k in range(seed.num_rows)], "video_id": [vid] * seed.num_rows,
                    "run_id": [run] * seed.num_rows}
        part = seed
        for column, values in replaced.items():
            index = part.schema.get_field_index(column)
            part = part.set_column(index, part.schema.field(index), pa.array(values, pa.string()))
        parts.append(part)
    return pa.concat_tables(parts)


def _commit_qa(layout: OutputLayout, data: pa.Table, shard: int) -> None:
    name = f"shard{shard}"
    commit_shard(layout, "qa", name, stage_table(layout, "qa", data, name), "r1")


def _rows(layout: OutputLayout, table: str = "qa") -> Counter:
    """The table's rows as a multiset (each row as JSON)."""
    data = query(layout, f"SELECT * FROM {table}")
    return Counter(json.dumps(row, sort_keys=True, default=str) for row in data.to_pylist())


def _built(tmp_path: Path, seed: pa.Table) -> OutputLayout:
    layout = OutputLayout(tmp_path / "out")
    for shard in range(SHARDS):
        _commit_qa(layout, _qa(seed, shard), shard)
    return layout


def test_compaction_keeps_the_rows_in_fewer_files_sorted_by_video(tmp_path, seed):
    layout = _built(tmp_path, seed)
    before, files_before = _rows(layout), len(table_files(layout, "qa"))
    version = read_manifest(layout, "qa")["version"]
    report = compact(layout, "qa")
    assert report.version == version + 1 and report.conflicts == 0  # one version swaps them all
    assert _rows(layout) == before
    manifest = read_manifest(layout, "qa")
    partitions = {rel.rpartition("/")[0] for rel in manifest["files"]}
    assert len(manifest["files"]) == len(partitions) < files_before == report.files_merged  # one per partition
    for rel, entry in manifest["files"].items():
        assert entry["shard"] == COMPACTED and sum(entry["members"].values()) == entry["rows"]
        stored = pq.read_table(layout.table_file("qa", rel))
        assert dict(Counter(stored[SHARD_COLUMN].to_pylist())) == entry["members"]
        ids = stored["video_id"].to_pylist()
        assert ids == sorted(ids)  # so each row group's min/max covers a narrow range of video ids
    assert committed_shards(layout, "qa") == {f"shard{s}" for s in range(SHARDS)}
    assert sum(t.num_rows for t in shard_rows(layout, "qa").values()) == sum(before.values())
    assert shard_rows(layout, "qa", "shard2")["shard2"].num_rows == seed.num_rows * VIDEOS_PER_SHARD
    assert compact(layout, "qa").version is None  # nothing small is left to merge


def test_a_lookup_by_video_reads_one_row_group_of_a_compacted_file(tmp_path, seed, monkeypatch):
    monkeypatch.setattr("storage.commits.ROW_GROUP_ROWS", 4)
    layout = _built(tmp_path, seed)
    compact(layout, "qa")
    refresh_catalog(layout)
    probe = _video_id(3, 1)
    with open_catalog(layout) as con:
        plan = "\n".join(row[1] for row in con.execute(
            "EXPLAIN ANALYZE SELECT qa_id FROM qa WHERE video_id = ?", [probe]).fetchall())
        assert con.execute("SELECT count(*) FROM qa WHERE video_id = ?", [probe]).fetchone() == (seed.num_rows,)
    scanned = [(int(a), int(b)) for a, b in re.findall(r"Row Groups Scanned: (\d+) / (\d+)", plan)]
    assert scanned and sum(a for a, _ in scanned) <= 2 * len(table_files(layout, "qa")) < sum(b for _, b in scanned)


def test_a_shard_committed_again_after_compaction_replaces_its_rows(tmp_path, seed):
    layout = _built(tmp_path, seed)
    compact(layout, "qa")
    held = {rel for rel, e in read_manifest(layout, "qa")["files"].items() if "shard2" in e.get("members", {})}
    _commit_qa(layout, _qa(seed, 2, run="r2", videos=1), 2)  # fewer videos, another run
    counts = query(layout, "SELECT run_id, count(*) AS n, count(DISTINCT qa_id) AS ids FROM qa GROUP BY 1 "
                           "ORDER BY 1").to_pylist()
    assert counts == [{"run_id": "r1", "n": (SHARDS - 1) * VIDEOS_PER_SHARD * seed.num_rows,
                       "ids": (SHARDS - 1) * VIDEOS_PER_SHARD * seed.num_rows},
                      {"run_id": "r2", "n": seed.num_rows, "ids": seed.num_rows}]
    manifest = read_manifest(layout, "qa")
    assert not held & manifest["files"].keys() and held <= manifest["superseded"].keys()  # copied, not edited
    assert all("shard2" not in e.get("members", {}) for e in manifest["files"].values())
    assert shard_rows(layout, "qa", "shard2")["shard2"]["run_id"].unique().to_pylist() == ["r2"]
    commit_shard(layout, "qa", "shard4", [], "r3")  # an empty commit clears a shard from compacted files too
    assert query(layout, "SELECT count(*) AS n FROM qa WHERE video_id = ?", [_video_id(4, 0)]).to_pylist() == [
        {"n": 0}]
    assert committed_shards(layout, "qa") == {f"shard{s}" for s in range(SHARDS) if s != 4}
    compact(layout, "qa")  # the new small files join the compacted ones
    assert sum(_rows(layout).values()) == (SHARDS - 2) * VIDEOS_PER_SHARD * seed.num_rows + seed.num_rows
    with pytest.raises(ValueError, match="cannot be a shard id"):
        commit_shard(layout, "qa", COMPACTED, [], "r4")


def test_an_unpartitioned_table_without_sort_columns_compacts_too(tmp_path):
    layout = OutputLayout(tmp_path / "out")
    for shard in range(5):
        rows = [FailureRow(run_id="r1", uri=f"s{shard}/v{k}.mp4", scene_id=None, video_id=None, stage="probe",
                           error_type="VideoDecodeError", message="bad") for k in range(shard + 1)]
        commit_shard(layout, "failures", f"s{shard}", stage_table(layout, "failures", to_arrow(rows, FailureRow),
                                                                  f"s{shard}"), "r1")
    before = _rows(layout, "failures")
    assert compact_tables(layout, min_small_files=6) == []  # under the threshold: left alone
    (report,) = compact_tables(layout, min_small_files=5)
    assert (report.table, report.files_merged, report.files_written) == ("failures", 5, 1)
    assert _rows(layout, "failures") == before
    refresh_catalog(layout)
    with open_catalog(layout) as con:  # the view leaves the compacted file's `_shard` out
        assert SHARD_COLUMN not in [row[0] for row in con.execute("DESCRIBE failures").fetchall()]
        assert con.execute("SELECT count(*) FROM failures").fetchone() == (15,)


def test_the_previous_version_stays_readable_until_a_vacuum(tmp_path, seed):
    layout = _built(tmp_path, seed)
    held = table_files(layout, "qa")  # a reader took the version before compaction
    before = _rows(layout)
    compact(layout, "qa")
    listing = "[" + ", ".join(f"'{path}'" for path in held) + "]"
    old = duckdb.sql(f"SELECT count(*) FROM read_parquet({listing})").fetchall()[0][0]
    assert old == sum(before.values())
    vacuum(layout, older_than=timedelta(hours=1))
    assert all(Path(path).exists() for path in held)  # within the grace period
    vacuum(layout, older_than=timedelta(0))
    assert not any(Path(path).exists() for path in held)
    assert _rows(layout) == before


def test_commits_during_a_compaction_keep_their_rows(tmp_path, seed, monkeypatch):
    layout = _built(tmp_path, seed)
    merge = compaction._merge
    landing: list[int] = [SHARDS, 0]  # a new shard, then shard 0 again, land while merged files are written

    def merge_then_commit(layout_, table, inputs):
        merged = merge(layout_, table, inputs)
        if landing:
            shard = landing.pop(0)
            _commit_qa(layout, _qa(seed, shard, run=f"r{shard + 2}"), shard)
        return merged

    monkeypatch.setattr(compaction, "_merge", merge_then_commit)
    groups = len({rel.rpartition("/")[0] for rel in read_manifest(layout, "qa")["files"]})
    report = compact(layout, "qa")  # every group holds a file of shard 0, which its re-commit replaced
    assert (report.conflicts, report.version) == (groups, None)
    per_shard = VIDEOS_PER_SHARD * seed.num_rows
    counts = {r["run_id"]: r["n"] for r in query(layout, "SELECT run_id, count(*) AS n FROM qa GROUP BY 1").to_pylist()}
    assert counts == {"r1": (SHARDS - 1) * per_shard, "r2": per_shard, f"r{SHARDS + 2}": per_shard}
    on_disk = {p.as_posix() for p in Path(layout.table_dir("qa")).rglob("part-*.parquet")}
    manifest = read_manifest(layout, "qa")
    assert on_disk == {layout.table_file("qa", rel) for rel in manifest["files"].keys() | manifest["superseded"]}
    monkeypatch.setattr(compaction, "_merge", merge)  # (the merged files of the groups left were deleted)
    report = compact(layout, "qa")
    assert report.conflicts == 0 and {e["shard"] for e in read_manifest(layout, "qa")["files"].values()} == {
        COMPACTED}
    assert {r["run_id"]: r["n"] for r in query(
        layout, "SELECT run_id, count(*) AS n FROM qa GROUP BY 1").to_pylist()} == counts  # no loss, no duplicate


def test_a_compaction_killed_before_its_commit_leaves_the_previous_version(tmp_path, seed):
    layout = _built(tmp_path, seed)
    before, manifest = _rows(layout), read_manifest(layout, "qa")
    script = textwrap.dedent(f"""
        import os, signal
        from storage import compaction
        from storage.layout import OutputLayout

        def killed(*args, **kwargs):  # kill -9 once every merged file is written, before the version is
            os.kill(os.getpid(), signal.SIGKILL)

        compaction.publish = killed
        compaction.compact(OutputLayout({str(layout.root)!r}), "qa")
    """)
    run = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[1], capture_output=True)
    assert run.returncode == -9, run.stderr.decode()[-2000:]
    after = read_manifest(layout, "qa")
    assert (after["version"], after["files"]) == (manifest["version"], manifest["files"])
    assert _rows(layout) == before
    written = sorted(p.as_posix() for p in Path(layout.table_dir("qa")).rglob("part-compacted-*.parquet"))
    assert written  # the merged files were written, unpublished
    vacuum(layout, older_than=timedelta(0))  # and are swept as orphans
    assert not any(Path(path).exists() for path in written)
    assert compact(layout, "qa").version == manifest["version"] + 1 and _rows(layout) == before


def test_the_compact_command_merges_and_refreshes_the_catalog(tmp_path, seed, capsys):
    from flows.cli import EXIT_OK, EXIT_USAGE, main  # noqa: PLC0415

    layout = _built(tmp_path, seed)
    refresh_catalog(layout)
    before, files = _rows(layout), len(table_files(layout, "qa"))
    assert main(["compact", "--output", str(layout.root), "--table", "qa"]) == EXIT_OK
    partitions = len({rel.rpartition("/")[0] for rel in read_manifest(layout, "qa")["files"]})
    assert f"qa: {files} files ({sum(before.values()):,} rows) merged into {partitions}" in capsys.readouterr().out
    with open_catalog(layout) as con:  # the catalog file reads the compacted files
        (view,) = con.execute("SELECT sql FROM duckdb_views() WHERE view_name = 'qa'").fetchall()[0]
        assert view.count("part-compacted-") == partitions and "part-shard" not in view
        assert con.execute("SELECT count(*) FROM qa").fetchall() == [(sum(before.values()),)]
    assert all(e["shard"] == COMPACTED for e in read_manifest(layout, "qa")["files"].values())
    assert main(["compact", "--output", str(layout.root), "--table", "nope"]) == EXIT_USAGE
    assert "unknown table 'nope'" in capsys.readouterr().err



def test_a_query_builds_the_views_it_names_and_all_when_it_reads_the_catalog(tmp_path, seed):
    layout = _built(tmp_path, seed)
    compact(layout, "qa")
    probe = _video_id(1, 0)
    rows = query(layout, "SELECT count(*) AS n FROM qa WHERE video_id = ? AND 'videos' <> ''", [probe]).to_pylist()
    assert rows == [{"n": seed.num_rows}]
    joined = query(layout, "SELECT count(*) AS n FROM qa JOIN videos USING (video_id)").to_pylist()
    assert joined == [{"n": 0}]  # (no videos committed: its typed empty view)
    comments = query(layout, "SELECT comment FROM duckdb_columns() WHERE table_name = 'qa' AND column_name = "
                             "'video_id'").to_pylist()
    assert comments and comments[0]["comment"]  # the catalog's own functions see every view, commented


@pytest.mark.e2e
def test_a_curate_run_compacts_at_its_end_and_a_rerun_replaces_every_shard(default_run, tmp_path):
    """The real flow with compact_min_files 2, over a copy of the default run's output root (every shard reused): at
    its end the same rows as the default run, the tables its shards wrote one file each compacted (the default set
    puts each QA partition in one shard, so qa keeps one file a partition); a re-run with another seed re-commits
    every shard through the compacted files and leaves none of the first run's rows."""
    config = tmp_path / "run.yaml"
    config.write_text("compact_min_files: 2\n")
    output = tmp_path / "out"
    shutil.copytree(default_run.output, output)
    first = run_curate(default_run.data_root, output, "--config", str(config))
    assert first.returncode == 0, first.stderr[-3000:]
    assert "shards reused 5" in first.stdout
    layout, reference = OutputLayout(output), OutputLayout(default_run.output)
    (frames,) = read_manifest(layout, "frames")["files"].values()
    assert frames["shard"] == COMPACTED and set(frames["members"]) == committed_shards(layout, "videos")
    assert len(frames["members"]) > 1
    for table, columns in (("frames", "video_id, frame_index, frame_sha256"),
                           ("qa", "qa_id, video_id, scale, task_type, question, answer")):  # (run ids differ)
        assert Counter(map(str, query(layout, f"SELECT {columns} FROM {table}").to_pylist())) == Counter(
            map(str, query(reference, f"SELECT {columns} FROM {table}").to_pylist()))
    second = run_curate(default_run.data_root, output, "--config", str(config), "--seed", "1")
    assert second.returncode == 0, second.stderr[-3000:]
    latest = query(layout, "SELECT run_id FROM runs ORDER BY finished_at DESC LIMIT 1").to_pylist()[0]["run_id"]
    runs = query(layout, "SELECT run_id, count(*) AS n, count(DISTINCT qa_id) AS ids FROM qa GROUP BY 1").to_pylist()
    assert [r["run_id"] for r in runs] == [latest]  # every shard replaced
    assert runs[0]["n"] == runs[0]["ids"] > 0  # nothing twice
    assert query(layout, "SELECT DISTINCT run_id FROM videos").to_pylist() == [{"run_id": latest}]
    assert query(layout, "SELECT count(*) = count(DISTINCT (video_id, frame_index)) AS unique FROM frames"
                 ).to_pylist() == [{"unique": True}]
