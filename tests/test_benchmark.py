"""The benchmark split: held-out exact scenes, QA from exact boxes only, a registry of scene + video hashes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from schemas.annotations import CameraTrack, ObjectAnnotation, OrientedBox, SceneAnnotation
from schemas.arrow import to_arrow
from schemas.benchmark import EXACT_MARKER_FILE, BenchmarkConfig
from schemas.ingest import FrameRow, VideoRow
from schemas.paths import data_root_tag, rooted_scene_id, source_scene_id
from storage.catalog import query
from storage.commits import commit_shard, read_manifest, stage_table
from storage.layout import OutputLayout
from tests.builders import orbit_track
from tests.flow_runner import run_flow
from training.benchmark import BenchmarkError, BenchmarkReport, build_benchmark_split, read_registry, split_value

TABLETOP = [("cup", (0.0, 0.0, 0.05), (0.08, 0.08, 0.10)), ("box", (-0.25, 0.15, 0.06), (0.30, 0.20, 0.12)),
            ("bottle", (0.15, 0.25, 0.125), (0.07, 0.07, 0.25)), ("book", (0.25, -0.2, 0.015), (0.23, 0.15, 0.03))]


def _scene_dir(data_root: Path, scene_id: str, source: str, track: CameraTrack) -> Path:
    scene_dir = data_root / scene_id
    scene_dir.mkdir(parents=True)
    annotation = SceneAnnotation(scene_id=scene_id, tier="tabletop", source=source, objects=[
        ObjectAnnotation(instance_id=i + 1, category=c, box=OrientedBox(center=ctr, size=size))
        for i, (c, ctr, size) in enumerate(TABLETOP)])
    (scene_dir / "scene.json").write_text(annotation.model_dump_json())
    (scene_dir / "cameras.json").write_text(track.model_dump_json())
    return scene_dir


def _rooted(data_root: Path, *scene_ids: str) -> list[str]:
    """The ids curate gives these scenes of `data_root`."""
    return [rooted_scene_id(s, data_root_tag(data_root)) for s in scene_ids]


def _curated(tmp_path: Path, scenes: dict[str, str], uncurated: tuple[str, ...] = ()) -> BenchmarkConfig:
    """A data root of annotated scenes (id → source) and an output root with their `videos`/`frames` rows, as
    curate writes them (frame files are not needed: the benchmark only records their paths)."""
    data_root, layout = tmp_path / "data", OutputLayout(tmp_path / "out")
    track = orbit_track(radius=0.9, height=0.8)
    videos, frames = [], []
    for scene_id, source in scenes.items():
        _scene_dir(data_root, scene_id, source, track)
        if scene_id in uncurated:
            continue
        video_id, (curated_id,) = f"{scene_id}-sha".ljust(64, "0"), _rooted(data_root, scene_id)
        videos.append(VideoRow(video_id=video_id, source="annotated", uri=f"{scene_id}/video.mp4", scene_id=curated_id,
                               size_bytes=1, fps=6, n_frames=8, width=512, height=384, duration_s=1.3,
                               has_native_annotations=True, run_id="r"))
        frames += [FrameRow(video_id=video_id, scene_id=curated_id, frame_index=i, timestamp_s=i / 6,
                            frame_sha256="0" * 64, path=f"artifacts/frames/{scene_id}-{i}.jpg", width=512,
                            height=384) for i in range(0, 8, 2)]
    for table, rows, model in (("videos", videos, VideoRow), ("frames", frames, FrameRow)):
        commit_shard(layout, table, "s", stage_table(layout, table, to_arrow(rows, model), "s"), "r")
    return BenchmarkConfig(data_root=data_root, output_root=layout.root)


def test_only_exact_scenes_are_held_out_and_each_bad_scene_is_reported(tmp_path):
    config = _curated(tmp_path, {"synth_a": "synthetic", "marked": "annotated", "plain": "annotated",
                                 "broken": "synthetic", "uncurated": "synthetic"}, uncurated=("uncurated",))
    (config.data_root / "marked" / EXACT_MARKER_FILE).touch()
    (config.data_root / "broken" / "cameras.json").write_text('{"fps": 6}')
    config = config.model_copy(update={"held_out_scene_ids": ("synth_a", "marked", "plain", "broken", "uncurated",
                                                              "absent")})
    report = build_benchmark_split(config)
    assert report.held_out == _rooted(config.data_root, "marked", "synth_a")
    reasons = {s.scene_id: s.reason for s in report.skipped}
    assert set(reasons) == {"plain", "broken", "uncurated", "absent"}
    assert "source 'annotated' is not exact" in reasons["plain"] and EXACT_MARKER_FILE in reasons["plain"]
    assert "broken/cameras.json" in reasons["broken"] and "intrinsics" in reasons["broken"]
    assert "no `videos` row" in reasons["uncurated"] and "spacevista curate" in reasons["uncurated"]
    assert "no annotated scene directory 'absent'" in reasons["absent"]
    layout = OutputLayout(config.output_root)
    registry = read_registry(layout)
    assert [(source_scene_id(r.scene_id), r.video_id[:10], r.selection) for r in registry] == [
        ("marked", "marked-sha", "explicit"), ("synth_a", "synth_a-sh", "explicit")]
    rows = query(layout, "SELECT scene_id, provenance.depth AS depth, frame_paths FROM benchmark").to_pylist()
    assert len(rows) == report.n_qa == sum(r.n_qa for r in registry) > 0
    assert {r["scene_id"] for r in rows} == set(_rooted(config.data_root, "marked", "synth_a"))
    assert {r["depth"] for r in rows} == {"exact:boxes"}
    assert all(p.startswith(f"artifacts/frames/{source_scene_id(r['scene_id'])}-")
               for r in rows for p in r["frame_paths"])


def test_hash_split_is_deterministic_and_a_rebuild_replaces_the_previous_split(tmp_path):
    ids = [f"s{i:02d}" for i in range(12)]
    config = _curated(tmp_path, {s: "synthetic" for s in ids}).model_copy(update={"held_out_fraction": 0.4})
    expected = sorted(s for s in ids if split_value(s, config.split_salt) < 0.4)
    assert 0 < len(expected) < len(ids)
    assert build_benchmark_split(config).held_out == _rooted(config.data_root, *expected)
    assert build_benchmark_split(config).held_out == _rooted(config.data_root, *expected)
    layout = OutputLayout(config.output_root)
    assert sorted(query(layout, "SELECT DISTINCT scene_id FROM benchmark").column(0).to_pylist()) == _rooted(
        config.data_root, *expected)
    assert split_value("s00", "other-salt") != split_value("s00", config.split_salt)

    kept = next(s for s in ids if s not in expected)
    build_benchmark_split(config.model_copy(update={"held_out_scene_ids": (kept,)}))
    assert [r.scene_id for r in read_registry(layout)] == _rooted(config.data_root, kept)
    assert query(layout, "SELECT DISTINCT scene_id FROM benchmark").column(0).to_pylist() == _rooted(
        config.data_root, kept)
    assert len(read_manifest(layout, "benchmark")["files"]) == len(
        query(layout, "SELECT DISTINCT scale, task_type FROM benchmark"))


def test_an_output_root_that_was_never_curated_is_refused(tmp_path):
    config = BenchmarkConfig(data_root=tmp_path, output_root=tmp_path / "nothing")
    with pytest.raises(BenchmarkError, match="no `videos` table; run `spacevista curate"):
        build_benchmark_split(config)


@pytest.fixture(scope="module")
def curated_copy(default_run, tmp_path_factory) -> Path:
    """The default run's output root, copied so that benchmark tables do not leak into other tests."""
    return Path(shutil.copytree(default_run.output, tmp_path_factory.mktemp("bench") / "out"))


@pytest.mark.e2e
def test_benchmark_of_the_default_run_comes_from_exact_boxes_of_held_out_scenes(default_run, curated_copy, tmp_path):
    config = BenchmarkConfig(data_root=default_run.data_root, output_root=curated_copy,
                             held_out_scene_ids=("indoor_001", "drone_000"))
    report = run_flow("flows.benchmark", "build_benchmark", config, BenchmarkReport, tmp_path)
    layout = OutputLayout(curated_copy)
    held = _rooted(default_run.data_root, "drone_000", "indoor_001")
    assert report.held_out == held and report.skipped == []
    videos = {r["scene_id"]: r["video_id"] for r in query(layout, "SELECT scene_id, video_id FROM videos").to_pylist()}
    assert {(r.scene_id, r.video_id) for r in read_registry(layout)} == {(s, videos[s]) for s in held}
    bench = query(layout, "SELECT scene_id, scale, provenance, frame_paths FROM benchmark").to_pylist()
    assert len(bench) == report.n_qa > 50 and report.qa_per_tier.keys() == {"drone", "indoor"}
    assert {r["provenance"]["depth"] for r in bench} == {"exact:boxes"}  # never the lifted (native depth) facts
    curated = query(layout, "SELECT DISTINCT provenance.depth AS d FROM qa").column("d").to_pylist()
    assert "exact:boxes" not in curated
    stored = {p for p in query(layout, "SELECT path FROM frames").column("path").to_pylist()}
    assert all(path in stored and (curated_copy / path).is_file() for r in bench for path in r["frame_paths"])
    by_partition = query(layout, "SELECT scale, count(*) AS n FROM benchmark GROUP BY 1 ORDER BY 1").to_pylist()
    assert {r["scale"]: r["n"] for r in by_partition} == report.qa_per_tier
