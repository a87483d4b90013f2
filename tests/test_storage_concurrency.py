"""Shared catalog safety: writers in other processes commit, refresh the catalog and vacuum while a reader queries;
two real `spacevista curate` runs write one output root at once."""

from __future__ import annotations

import multiprocessing
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from schemas.arrow import to_arrow
from schemas.paths import source_scene_id
from schemas.runs import FailureRow
from schemas.tiers import ScaleTier
from sources.synthetic import RenderSettings, generate_scene
from storage.catalog import open_catalog, query, refresh_catalog
from storage.commits import commit_shard, read_manifest, stage_table, table_files, vacuum
from storage.manifests import is_checkpoint, manifest_versions
from storage.layout import OutputLayout
from storage.tables import TABLES
from tests.conftest import run_curate

COMMITS_PER_WRITER = 40
GRACE = timedelta(seconds=5)


def _rows(writer: int, i: int) -> int:
    """Writer `writer`'s i-th commit replaces its shard with this many rows (run id `w<writer>-<i>`)."""
    return (i + writer) % 5 + 1


def _writer(root: str, writer: int) -> None:
    layout = OutputLayout(root)
    shard = f"w{writer}"
    for i in range(COMMITS_PER_WRITER):
        run = f"w{writer}-{i}"
        rows = [FailureRow(run_id=run, uri=f"{shard}/{k}.mp4", scene_id=None, video_id=None, stage="probe",
                           error_type="VideoDecodeError", message="bad") for k in range(_rows(writer, i))]
        commit_shard(layout, "failures", shard, stage_table(layout, "failures", to_arrow(rows, FailureRow), shard),
                     run)
        if i % 4 == 3:
            refresh_catalog(layout)
            vacuum(layout, GRACE)


def _check_snapshot(counts: list[tuple[str, int]]) -> None:
    """One consistent version: at most one run per writer, each with exactly the rows that commit wrote."""
    writers = [re.fullmatch(r"w(\d)-(\d+)", run).groups() for run, _ in counts]
    assert len({w for w, _ in writers}) == len(writers), counts  # two versions of one shard at once: a mix
    for (run, n), (w, i) in zip(counts, writers):
        assert n == _rows(int(w), int(i)), (run, n)


def test_readers_see_whole_versions_while_two_processes_commit(tmp_path):
    root = tmp_path / "out"
    refresh_catalog(OutputLayout(root))
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(str(root), w)) for w in (0, 1)]
    for process in writers:
        process.start()
    layout, reads = OutputLayout(root), 0
    while any(p.is_alive() for p in writers) or reads == 0:
        counts = query(layout, "SELECT run_id, count(*) FROM failures GROUP BY 1").to_pylist()
        _check_snapshot([(r["run_id"], r["count_star()"]) for r in counts])
        for path in table_files(layout, "failures"):  # every listed file is there and readable
            assert pq.read_metadata(path).num_rows >= 1
        with open_catalog(layout) as con:  # the catalog file: old or new, whole
            _check_snapshot(con.execute("SELECT run_id, count(*) FROM failures GROUP BY 1").fetchall())
        reads += 1
    assert [p.exitcode for p in writers] == [0, 0] and reads > 3  # no version was written twice
    assert manifest_versions(layout, "failures")[-1] >= 2 * COMMITS_PER_WRITER  # and vacuums published some
    versions = manifest_versions(layout, "failures")  # from the checkpoint a reader of the previous one needs
    assert versions == list(range(versions[0], versions[-1] + 1)) and is_checkpoint(versions[0])
    final = query(layout, "SELECT run_id, count(*) AS n FROM failures GROUP BY 1 ORDER BY 1").to_pylist()
    last = COMMITS_PER_WRITER - 1
    assert final == [{"run_id": f"w{w}-{last}", "n": _rows(w, last)} for w in (0, 1)]


def test_vacuum_keeps_what_a_recent_version_lists(tmp_path):
    layout = OutputLayout(tmp_path)
    row = to_arrow([FailureRow(run_id="r", uri="a.mp4", scene_id=None, video_id=None, stage="probe",
                                error_type="VideoDecodeError", message="bad")], FailureRow)
    commit_shard(layout, "failures", "a", stage_table(layout, "failures", row, "a"), "r")
    held = table_files(layout, "failures")  # a reader took version 1
    commit_shard(layout, "failures", "a", stage_table(layout, "failures", row, "a"), "r")
    orphan = stage_table(layout, "failures", row, "killed")  # never committed
    assert vacuum(layout, timedelta(minutes=5)).files_removed == 0
    assert all(Path(p).is_file() for p in held)  # the reader of version 1 still finds its files
    assert vacuum(layout, timedelta(0)).files_removed == 2  # the superseded file and the killed run's orphan
    assert not Path(held[0]).exists() and not Path(layout.table_file("failures", orphan[0].target)).exists()
    assert manifest_versions(layout, "failures") == [1, 2, 3]  # version 3 no longer lists the removed file
    assert read_manifest(layout, "failures")["superseded"] == {}


@pytest.mark.e2e
def test_two_curate_runs_at_once_share_one_output_root(tmp_path):
    settings = RenderSettings(num_frames=8)
    data_roots = [tmp_path / "data-a", tmp_path / "data-b"]
    generate_scene(ScaleTier.TABLETOP, 11, data_roots[0] / "tabletop-a", settings=settings)
    generate_scene(ScaleTier.INDOOR, 12, data_roots[1] / "indoor-b", settings=settings)
    output = tmp_path / "shared-out"
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda root: run_curate(root, output, "--no-default-data"), data_roots))
    for run in runs:
        assert run.returncode == 0, f"curate failed ({run.returncode}):\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"

    layout = OutputLayout(output)
    for table in TABLES:
        for version in manifest_versions(layout, table):
            assert read_manifest(layout, table, version)["version"] == version
        for path in table_files(layout, table):
            assert Path(path).is_file(), path
    assert read_manifest(layout, "runs")["files"] and len(read_manifest(layout, "videos")["files"]) == 2
    with open_catalog(layout) as con:
        scenes = sorted(source_scene_id(r[0]) for r in con.execute("SELECT scene_id FROM videos").fetchall())
        runs_rows = con.execute("SELECT count(*) FROM runs").fetchone()[0]
        qa, distinct = con.execute("SELECT count(*), count(DISTINCT qa_id) FROM qa").fetchone()
        tiers = {r[0] for r in con.execute("SELECT DISTINCT scale FROM qa").fetchall()}
    assert scenes == ["indoor-b", "tabletop-a"] and runs_rows == 2
    assert qa == distinct > 0 and tiers == {"tabletop", "indoor"}
