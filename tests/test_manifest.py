"""Video manifests (JSONL, CSV, Parquet): rows become VideoItems inside the data root, bad rows are skipped with
their line and reason, shards are planned from the stream; `curate --manifest/--config` end to end."""

from __future__ import annotations

import csv
import json
import shutil
from itertools import islice
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from flows.cli import EXIT_PARTIAL, EXIT_USAGE
from pipeline.shard import plan_shards
from schemas.paths import OutsideDataRootError, source_scene_id
from schemas.tiers import ScaleTier
from sources.manifest import ManifestError, VideoManifest
from storage.catalog import open_catalog
from storage.layout import OutputLayout
from tests.conftest import run_curate

ROWS = [{"uri": "plain/a.mp4", "tier": "indoor"},
        {"uri": "scenes/s1/video.mp4", "annotations_dir": "scenes/s1", "scene_id": "kitchen"},
        {"uri": "drone/b.mp4"}]


@pytest.fixture
def root(tmp_path) -> Path:
    (tmp_path / "plain").mkdir()
    (tmp_path / "scenes" / "s1").mkdir(parents=True)
    return tmp_path


def _write(path: Path, rows: list[dict]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".csv":
        with open(path, "w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["uri", "scene_id", "tier", "annotations_dir"])
            writer.writeheader()
            writer.writerows(rows)
    else:
        pq.write_table(pa.Table.from_pylist(rows, schema=pa.schema(
            [(name, pa.string()) for name in ("uri", "scene_id", "tier", "annotations_dir")])), path)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_every_format_gives_the_same_items(root, suffix):
    items = list(VideoManifest(_write(root / f"videos{suffix}", ROWS), root))
    assert [(i.uri, i.source, i.scene_id, i.tier) for i in items] == [
        ("plain/a.mp4", "video_folder", "plain__a", ScaleTier.INDOOR),
        ("scenes/s1/video.mp4", "annotated", "kitchen", None),
        ("drone/b.mp4", "video_folder", "drone__b", ScaleTier.DRONE)]
    assert items[1].annotations_dir == (root / "scenes" / "s1").resolve()
    assert all(i.path == (root / i.uri).resolve() for i in items)


def test_bad_rows_are_skipped_with_their_line_and_reason(root):
    lines = [json.dumps(ROWS[0]), "{not json", json.dumps({"uri": "plain/c.mp4", "tier": "galactic"}), "",
             json.dumps({"uri": "plain/d.mp4", "colour": "red"}), json.dumps(ROWS[0]), json.dumps({"tier": "indoor"}),
             json.dumps({"uri": "../elsewhere.mp4"}), json.dumps({"uri": "."}), json.dumps(ROWS[2])]
    manifest = root / "videos.jsonl"
    manifest.write_text("\n".join(lines) + "\n")
    parsed = VideoManifest(manifest, root)
    assert [i.uri for i in parsed] == ["plain/a.mp4", "drone/b.mp4"]
    reasons = {r.position: r.reason for r in parsed.rejected}
    assert set(reasons) == {"line 2", "line 3", "line 5", "line 6", "line 7", "line 8", "line 9"}
    assert reasons["line 2"].startswith("not valid JSON")
    assert reasons["line 3"].startswith("tier: Input should be")
    assert reasons["line 5"] == "colour: Extra inputs are not permitted"
    assert reasons["line 6"] == "plain/a.mp4 is listed more than once"
    assert reasons["line 7"] == "uri: Field required"
    assert "outside the data root" in reasons["line 8"]
    assert "names the data root itself" in reasons["line 9"]
    assert parsed.rejected[0].message == f"{manifest}: line 2: {reasons['line 2']}"


def test_an_absolute_uri_is_accepted_only_inside_the_root(root, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "x.mp4"
    parsed = VideoManifest(_write(root / "v.jsonl", [{"uri": str(root / "plain" / "a.mp4")}, {"uri": str(outside)}]),
                           root)
    assert [i.uri for i in parsed] == ["plain/a.mp4"]
    assert "outside the data root" in parsed.rejected[0].reason


def test_csv_rows_with_too_many_values_are_skipped(root):
    (root / "v.csv").write_text("uri,tier\nplain/a.mp4,indoor\nplain/b.mp4,indoor,extra\n")
    parsed = VideoManifest(root / "v.csv", root)
    assert [i.uri for i in parsed] == ["plain/a.mp4"]
    assert [(r.position, r.reason) for r in parsed.rejected] == [("line 3", "3 values for 2 columns")]


@pytest.mark.parametrize("name, content, problem", [
    ("videos.txt", "plain/a.mp4\n", "unknown manifest format '.txt'"),
    ("videos.csv", "path,tier\nplain/a.mp4,indoor\n", "a manifest has a 'uri' column"),
    ("videos.parquet", "not parquet", "not a readable Parquet file"),
])
def test_an_unusable_manifest_is_refused_whole(root, name, content, problem):
    (root / name).write_text(content)
    with pytest.raises(ManifestError, match=problem):
        VideoManifest(root / name, root)


def test_a_manifest_outside_the_root_is_refused(root, tmp_path_factory):
    manifest = _write(tmp_path_factory.mktemp("elsewhere") / "videos.jsonl", ROWS)
    with pytest.raises(OutsideDataRootError, match="outside the data root"):
        VideoManifest(manifest, root)


def test_shards_are_planned_from_the_stream_with_stable_ids(root):
    pulled = []

    def stream():
        for item in VideoManifest(_write(root / "v.jsonl", [{"uri": f"plain/{n}.mp4"} for n in range(10)]), root):
            pulled.append(item.uri)
            yield item

    shards = plan_shards(stream(), 3, root)
    first = next(shards)
    assert len(pulled) == 3 and [i.uri for i in first.items] == pulled
    rest = list(shards)
    assert [len(s.items) for s in rest] == [3, 3, 1]
    again = list(plan_shards(VideoManifest(root / "v.jsonl", root), 3, root))
    assert [s.shard_id for s in again] == [first.shard_id] + [s.shard_id for s in rest]
    assert len({s.shard_id for s in again}) == 4
    assert next(islice(plan_shards(iter([]), 3, root), 1), None) is None


def test_curate_refuses_an_unusable_manifest_as_a_usage_error(tmp_path):
    (tmp_path / "videos.csv").write_text("path\nplain/a.mp4\n")
    run = run_curate(tmp_path, tmp_path / "out", "--manifest", str(tmp_path / "videos.csv"), "--no-default-data")
    assert run.returncode == EXIT_USAGE, run.stderr[-3000:]
    assert f"{tmp_path / 'videos.csv'}: columns are 'path'; a manifest has a 'uri' column" in run.stderr


@pytest.mark.e2e
def test_curate_from_a_manifest_named_in_a_config_file(default_data, tmp_path):
    root = tmp_path / "data"
    scene, other = (p for p in sorted(default_data.iterdir()) if p.name.startswith("tabletop"))
    shutil.copytree(scene, root / "scenes" / "desk")
    (root / "plain").mkdir()
    shutil.copy(other / "video.mp4", root / "plain" / "clip.mp4")  # the same bytes twice would be curated once
    (root / "lists").mkdir()
    (root / "lists" / "videos.jsonl").write_text("\n".join([
        json.dumps({"uri": "scenes/desk/video.mp4", "annotations_dir": "scenes/desk", "tier": "tabletop"}),
        json.dumps({"uri": "plain/clip.mp4", "scene_id": "clip"}),
        json.dumps({"uri": "plain/clip.mp4", "tier": "huge"}),
    ]) + "\n")
    config = tmp_path / "run.yaml"
    config.write_text("data_root: data\nmanifest: data/lists/videos.jsonl\nshard_size: 1\n"
                      "generate_default_data: false\n")
    run = run_curate(root, tmp_path / "out", "--config", str(config))
    assert run.returncode == EXIT_PARTIAL, run.stderr[-3000:]
    assert "[manifest]" in run.stdout and "line 3: tier: Input should be" in run.stdout
    with open_catalog(OutputLayout(run.output)) as con:
        videos = sorted((uri, source, source_scene_id(scene))
                        for uri, source, scene in con.sql("SELECT uri, source, scene_id FROM videos").fetchall())
        failures = con.sql("SELECT uri, stage, message FROM failures WHERE stage = 'manifest'").fetchall()
    assert videos == [("plain/clip.mp4", "video_folder", "clip"), ("scenes/desk/video.mp4", "annotated", "desk")]
    assert [(uri, stage) for uri, stage, _ in failures] == [("plain/clip.mp4", "manifest")]
    assert failures[0][2].endswith("videos.jsonl: line 3: tier: Input should be 'tiny_tabletop', 'tabletop', "
                                   "'indoor', 'outdoor' or 'drone'")
