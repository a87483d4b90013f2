"""The catalog file names its Parquet files relative to the output root, so a copied or moved root reads its own
files (and a root whose original is gone still answers); every view and every column carries a comment."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from qa_templates.generate import generate_scene_qa
from schemas.arrow import to_arrow
from schemas.descriptions import COLUMN_DESCRIPTIONS, TABLE_DESCRIPTIONS
from schemas.ingest import VideoRow
from schemas.qa import QARow
from storage.catalog import open_catalog, query, refresh_catalog
from storage.commits import commit_shard, stage_table
from storage.layout import OutputLayout
from storage.tables import TABLES
from tests.builders import tabletop_facts


def curated_root(root: Path) -> OutputLayout:
    """An output root with committed `videos` (plain) and `qa` (hive-partitioned) rows and a catalog file."""
    layout = OutputLayout(root)
    videos = [VideoRow(video_id=f"v{n}", source="video_folder", uri=f"plain/{n}.mp4", scene_id=f"scene{n}",
                       size_bytes=10, fps=30.0, n_frames=30, width=64, height=48, duration_s=1.0,
                       has_native_annotations=False, run_id="r1") for n in range(3)]
    commit_shard(layout, "videos", "s", stage_table(layout, "videos", to_arrow(videos, VideoRow), "s"), "r1")
    qa = generate_scene_qa(tabletop_facts(), "r1").rows
    commit_shard(layout, "qa", "s", stage_table(layout, "qa", to_arrow(qa, QARow), "s"), "r1")
    refresh_catalog(layout)
    return layout


COUNTS = "SELECT (SELECT count(*) FROM videos) AS videos, (SELECT count(*) FROM qa) AS qa, " \
         "(SELECT count(DISTINCT task_type) FROM qa) AS tasks"


def test_the_catalog_file_stores_no_absolute_path(tmp_path):
    layout = curated_root(tmp_path / "out")
    with open_catalog(layout) as con:
        views = dict(con.sql("SELECT view_name, sql FROM duckdb_views() WHERE NOT internal").fetchall())
    assert set(views) == set(TABLES)
    assert "'tables/videos/part-" in views["videos"] and "'tables/qa/scale=tabletop/task_type=" in views["qa"]
    assert not [name for name, sql in views.items() if str(tmp_path) in sql]


def test_a_copied_root_reads_its_own_files_after_the_original_is_deleted(tmp_path):
    original = curated_root(tmp_path / "first, root")  # a comma: DuckDB's file_search_path is a comma-separated list
    expected = query(original, COUNTS).to_pylist()
    assert expected[0]["videos"] == 3 and expected[0]["qa"] > 0
    with open_catalog(original) as con:
        assert con.sql(COUNTS).to_arrow_table().to_pylist() == expected
    copy = OutputLayout(shutil.copytree(tmp_path / "first, root", tmp_path / "moved" / "copy"))
    shutil.rmtree(tmp_path / "first, root")
    with open_catalog(copy) as con:
        assert con.sql(COUNTS).to_arrow_table().to_pylist() == expected
    assert query(copy, COUNTS).to_pylist() == expected
    # a DuckDB client points relative paths at the root the same way
    with duckdb.connect(str(copy.catalog), read_only=True) as con:
        con.execute("SET file_search_path = ?", [str(copy.local_root)])
        assert con.sql(COUNTS).to_arrow_table().to_pylist() == expected


@pytest.mark.parametrize("reader", ["catalog file", "query"])
def test_every_view_and_column_has_a_comment(tmp_path, reader):
    layout = curated_root(tmp_path / "out")
    views_sql = "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal"
    columns_sql = ("SELECT table_name, column_name, comment FROM duckdb_columns() "
                   "WHERE table_name IN (SELECT view_name FROM duckdb_views() WHERE NOT internal)")
    if reader == "query":
        views, columns = query(layout, views_sql).to_pylist(), query(layout, columns_sql).to_pylist()
    else:
        with open_catalog(layout) as con:
            views = con.sql(views_sql).to_arrow_table().to_pylist()
            columns = con.sql(columns_sql).to_arrow_table().to_pylist()
    assert {v["view_name"] for v in views} == set(TABLES)
    assert [v["view_name"] for v in views if not (v["comment"] or "").strip()] == []
    assert len(columns) == sum(len(spec.model.model_fields) for spec in TABLES.values())
    assert [(c["table_name"], c["column_name"]) for c in columns if not (c["comment"] or "").strip()] == []
    comments = {(c["table_name"], c["column_name"]): c["comment"] for c in columns}
    assert comments["videos", "video_id"] == "sha256 of the file's bytes"  # a Field description
    assert comments["qa", "frame_paths"] == COLUMN_DESCRIPTIONS["frame_paths"]


def test_descriptions_have_one_source_each_and_none_is_unused():
    assert set(TABLE_DESCRIPTIONS) == set(TABLES)
    undescribed = {name for spec in TABLES.values() for name, field in spec.model.model_fields.items()
                   if not field.description}
    assert undescribed - set(COLUMN_DESCRIPTIONS) == set()  # every column has a description
    assert set(COLUMN_DESCRIPTIONS) - undescribed == set()  # no entry repeats or outlives a Field description
