"""Atomic, idempotent table commits and the DuckDB catalog over them."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from datetime import timedelta
from pathlib import Path

import pytest

from schemas.arrow import arrow_schema, to_arrow
from schemas.qa import QARow
from schemas.runs import FailureRow
from storage.catalog import open_catalog, query, refresh_catalog
from storage.commits import StagedFile, commit_shard, read_manifest, stage_table, table_files, vacuum
from storage.layout import OutputLayout
from storage import manifests
from storage.manifests import manifest_versions


def _failures(n: int, run: str = "r1") -> list[FailureRow]:
    return [FailureRow(run_id=run, uri=f"v{i}.mp4", scene_id=f"s{i}", video_id=None, stage="probe",
                       error_type="VideoDecodeError", message="bad") for i in range(n)]


def _on_disk(layout) -> list[str]:
    return sorted(p.as_posix() for p in Path(layout.table_dir("failures")).rglob("part-*.parquet"))


def _commit(layout, rows, shard, run="r1"):
    commit_shard(layout, "failures", shard, stage_table(layout, "failures", to_arrow(rows, FailureRow), shard), run)


def test_commit_publishes_files_with_row_counts_and_hashes(tmp_path):
    layout = OutputLayout(tmp_path)
    _commit(layout, _failures(3), "shard-a")
    manifest = read_manifest(layout, "failures")
    (entry,) = manifest["files"].values()
    assert entry["rows"] == 3 and entry["shard"] == "shard-a" and len(entry["sha256"]) == 64
    assert query(layout, "SELECT count(*) AS n FROM failures").to_pylist() == [{"n": 3}]
    assert _on_disk(layout) == table_files(layout, "failures")  # written in place, nothing left aside


def test_recommitting_a_shard_replaces_it_and_keeps_other_shards(tmp_path):
    layout = OutputLayout(tmp_path)
    _commit(layout, _failures(3), "shard-a")
    _commit(layout, _failures(2), "shard-b")
    _commit(layout, _failures(1, run="r2"), "shard-a")
    rows = query(layout, "SELECT run_id, count(*) AS n FROM failures GROUP BY 1 ORDER BY 1").to_pylist()
    assert rows == [{"run_id": "r1", "n": 2}, {"run_id": "r2", "n": 1}]
    assert len(table_files(layout, "failures")) == 2
    assert len(_on_disk(layout)) == 3  # the superseded file stays for readers of the previous version
    vacuum(layout, older_than=timedelta(0))
    assert _on_disk(layout) == table_files(layout, "failures")  # superseded file removed


def test_versions_stay_from_the_checkpoint_a_reader_of_the_previous_one_needs(tmp_path, monkeypatch):
    monkeypatch.setattr(manifests, "CHECKPOINT_INTERVAL", 5)  # checkpoints at versions 1, 5, 10, …
    layout = OutputLayout(tmp_path)
    for i in range(12):
        _commit(layout, _failures(i % 3 + 1), f"shard-{i % 2}")
    assert sorted(p.name for p in Path(layout.manifests("failures")).iterdir()) == [
        "00000010.json", "00000011.delta.json", "00000012.delta.json"]
    assert len(read_manifest(layout, "failures")["superseded"]) == 10 and len(_on_disk(layout)) == 12
    assert vacuum(layout, older_than=timedelta(hours=1)).files_removed == 0  # replaced just now: still readable
    assert vacuum(layout, older_than=timedelta(0)).files_removed == 10
    assert _on_disk(layout) == table_files(layout, "failures")
    assert manifest_versions(layout, "failures") == [10, 11, 12, 13]
    assert read_manifest(layout, "failures")["superseded"] == {}


def _backdated(layout, staged: list[StagedFile]) -> list[StagedFile]:
    """The same written files, renamed as if written in 2020."""
    moved = []
    for item in staged:
        target = re.sub(r"\d{8}T\d{6}Z", "20200101T000000Z", item.target)
        os.rename(layout.table_file(item.table, item.target), layout.table_file(item.table, target))
        moved.append(dataclasses.replace(item, target=target))
    return moved


def test_vacuum_keeps_files_by_when_they_were_replaced_and_orphans_by_when_they_were_written(tmp_path):
    layout = OutputLayout(tmp_path)
    rows = to_arrow(_failures(1), FailureRow)
    written_long_ago = _backdated(layout, stage_table(layout, "failures", rows, "shard-a"))
    commit_shard(layout, "failures", "shard-a", written_long_ago, "r1")
    _commit(layout, _failures(2), "shard-a")  # replaces it now
    killed = _backdated(layout, stage_table(layout, "failures", rows, "killed"))  # a run that died long ago
    writing = stage_table(layout, "failures", rows, "writing")  # a run about to commit
    assert vacuum(layout, older_than=timedelta(minutes=5), sweep_orphans=False).files_removed == 0
    assert vacuum(layout, older_than=timedelta(minutes=5)).files_removed == 1
    on_disk = _on_disk(layout)
    assert layout.table_file("failures", written_long_ago[0].target) in on_disk
    assert layout.table_file("failures", writing[0].target) in on_disk
    assert layout.table_file("failures", killed[0].target) not in on_disk


def test_an_empty_commit_clears_the_shard(tmp_path):
    layout = OutputLayout(tmp_path)
    _commit(layout, _failures(2), "shard-a")
    commit_shard(layout, "failures", "shard-a", [], "r2")
    assert query(layout, "SELECT count(*) AS n FROM failures").to_pylist() == [{"n": 0}]


def test_staged_but_uncommitted_files_are_invisible(tmp_path):
    layout = OutputLayout(tmp_path)
    _commit(layout, _failures(2), "shard-a")
    stage_table(layout, "failures", to_arrow(_failures(5), FailureRow), "shard-b")  # a shard that died here
    assert query(layout, "SELECT count(*) AS n FROM failures").to_pylist() == [{"n": 2}]


def test_empty_tables_still_have_typed_views(tmp_path):
    layout = OutputLayout(tmp_path)
    refresh_catalog(layout)
    columns = query(layout, "DESCRIBE qa").column("column_name").to_pylist()
    assert {"qa_id", "scale", "task_type", "answer", "visual_prompts"} <= set(columns)
    assert arrow_schema(QARow).names == columns
    types = query(layout, "DESCRIBE qa").column("column_type").to_pylist()
    with open_catalog(layout) as con:
        assert [row[:2] for row in con.sql("DESCRIBE qa").fetchall()] == list(zip(columns, types))
    assert not (tmp_path / "tables").exists()  # typing an empty view writes no file


def test_partitioned_table_layout_and_pruning(tmp_path):
    from tests.builders import tabletop_facts
    from qa_templates.generate import generate_scene_qa
    from schemas.qa import QARow

    layout = OutputLayout(tmp_path)
    rows = generate_scene_qa(tabletop_facts(), "r1").rows
    commit_shard(layout, "qa", "s", stage_table(layout, "qa", to_arrow(rows, QARow), "s"), "r1")
    dirs = {Path(p).parent.relative_to(layout.table_dir("qa")).as_posix() for p in table_files(layout, "qa")}
    assert all(d.startswith("scale=tabletop/task_type=") for d in dirs)
    sizes = query(layout, "SELECT count(*) AS n FROM qa WHERE task_type = ?", ["object_size"]).to_pylist()
    assert sizes[0]["n"] == sum(r.task_type.value == "object_size" for r in rows) > 0


def test_manifest_from_another_format_version_is_refused(tmp_path):
    layout = OutputLayout(tmp_path)
    _commit(layout, _failures(1), "shard-a")
    manifest = json.loads(Path(layout.manifest("failures", 1)).read_text())
    manifest["format_version"] = 99
    Path(layout.manifest("failures", 1)).write_text(json.dumps(manifest))
    with pytest.raises(RuntimeError, match="format_version 99"):
        read_manifest(layout, "failures")
