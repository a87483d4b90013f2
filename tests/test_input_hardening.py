"""Hostile and careless inputs (issue 11): each is a `failures` row naming the file and the field, the rest of the
run going on, nothing lost or duplicated; an empty data root is a usage error. Fast: through the sources' discover
and read, the shard planner and one shard's curation, on a scene of 6 rendered frames."""

from __future__ import annotations

import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from flows.cli import EXIT_USAGE
from pipeline.shard import Shard, curate_shard, plan_shards, shard_fingerprint
from schemas.arrow import to_arrow
from schemas.config import CurateConfig
from schemas.paths import OutsideDataRootError, data_root_tag, rooted_scene_id, source_scene_id
from schemas.runs import FailureRow
from schemas.tiers import ScaleTier
from sources import registry
from sources.annotated import AnnotationError
from sources.contract import KeyframePolicy, SourceError
from sources.discovery import content_sha256
from sources.manifest import VideoManifest
from sources.synthetic import RenderSettings, generate_default_dataset, generate_scene
from sources.video_decode import VideoDecodeError, decode_frames
from storage.catalog import query
from storage.commits import TEMPORARY_GRACE, commit_shard, vacuum
from storage.layout import OutputLayout
from storage.tables import SHARD_TABLES
from tests.conftest import run_curate

POLICY = KeyframePolicy(stride=1, max_keyframes=16)
ANNOTATED = registry.get_source("annotated")


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    """One rendered tabletop scene (6 frames, 512×384) and its frames written as PNGs beside it."""
    root = tmp_path_factory.mktemp("pristine")
    scene = generate_scene(ScaleTier.TABLETOP, 3, root / "scene", settings=RenderSettings(num_frames=6))
    (scene / "frames").mkdir()
    for i, rgb in enumerate(decode_frames(scene / "video.mp4", list(range(6)))):
        cv2.imwrite(str(scene / "frames" / f"{i:06d}.png"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    return scene


def _scene(pristine: Path, where: Path, frames: bool = False) -> Path:
    """A copy of the pristine scene at `where`: with its video, or (`frames`) with its frames/ folder instead."""
    shutil.copytree(pristine, where, ignore=shutil.ignore_patterns("video.mp4" if frames else "frames"))
    return where


def _item(root: Path, uri: str):
    return next(i for i in registry.discover(root) if i.uri == uri)


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))  # float('inf') and float('nan') are written as Infinity and NaN


def _config(root: Path, output: Path) -> CurateConfig:
    return CurateConfig(data_root=root, output_root=output, keyframe_stride=1, max_attempts=3)


def _curated(root: Path, output: Path, shard_size: int = 20):
    """Plan every item under `root` and curate the shards: (items, results)."""
    shards = list(plan_shards(registry.discover(root), shard_size, root))
    return ([i for s in shards for i in s.items],
            [curate_shard(s, _config(root, output), "run-test") for s in shards])


# Row 1: non-UTF-8 names (a whole run crashed with UnicodeEncodeError).

def test_a_name_that_is_not_utf8_is_a_failure_row_and_the_rest_is_curated(pristine, tmp_path):
    root = tmp_path / "data"
    _scene(pristine, root / "good")
    bad = _scene(pristine, Path(os.fsdecode(bytes(root) + b"/caf\xe9")), frames=True)
    (bad / "frames" / "000000.png").rename(Path(os.fsdecode(bytes(bad) + b"/frames/\xff000000.png")))
    items, (result,) = _curated(root, tmp_path / "out")
    assert [i.uri for i in items] == ["caf\\xe9/frames", "good/video.mp4"]
    (failure,) = result.failures
    assert (failure.uri, failure.stage, failure.error_type) == ("caf\\xe9/frames", "discover", "RefusedInput")
    assert "caf\\xe9/frames: the path is not valid UTF-8; rename it" == failure.message
    assert result.row_counts["videos"] == 1 and result.row_counts["qa"] > 0
    failures = next(s for s in result.staged if s.table == "failures")  # written as Parquet: valid UTF-8
    table = pq.read_table(OutputLayout(tmp_path / "out").table_file("failures", failures.target))
    assert table.column("uri").to_pylist() == ["caf\\xe9/frames"]
    assert len(shard_fingerprint(Shard("s", tuple(items)), _config(root, tmp_path / "out"))) == 32
    assert len(content_sha256(sorted((bad / "frames").iterdir()))) == 64


def test_a_manifest_row_naming_a_file_that_is_not_utf8_is_rejected_with_a_printable_uri(pristine, tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    shutil.copy(pristine / "video.mp4", Path(os.fsdecode(bytes(root / "clip") + b"\xfe.mp4")))
    (root / "videos.jsonl").write_text('{"uri": "clip\\udcfe.mp4"}\n')  # JSON's escape of a lone surrogate
    manifest = VideoManifest(root / "videos.jsonl", root)
    assert list(plan_shards(manifest, 5, root)) == []
    (row,) = manifest.rejected
    assert row.uri == "clip\\xfe.mp4" and "line 1: uri: Input should be a valid string" in row.message
    failure = FailureRow(run_id="r", uri=row.uri, scene_id=None, video_id=None, stage="manifest",
                         error_type="ManifestRowError", message=row.message)
    assert to_arrow([failure], FailureRow).column("uri").to_pylist() == ["clip\\xfe.mp4"]  # encodes as UTF-8


# Row 2: a frame symlinked out of the data root (it became keyframe 0).

def test_a_frame_symlinked_outside_the_data_root_is_refused(pristine, tmp_path):
    root, outside = tmp_path / "data", tmp_path / "outside"
    scene = _scene(pristine, root / "scene", frames=True)
    outside.mkdir()
    (scene / "frames" / "000000.png").rename(outside / "000000.png")
    (scene / "frames" / "000000.png").symlink_to(outside / "000000.png")
    with pytest.raises(OutsideDataRootError, match="frames/000000.png resolves to .*outside the data root"):
        ANNOTATED.read(root, _item(root, "scene/frames"), POLICY)


# Rows 3 and 4: identity of shards and scenes includes the data root; of scenes, also their path under it.

def test_shard_ids_include_the_data_root(pristine, tmp_path, monkeypatch):
    first, second = tmp_path / "first", tmp_path / "second"
    _scene(pristine, first / "scene")
    _scene(pristine, second / "scene")

    def ids(root: Path, spelled: Path) -> list[str]:
        return [s.shard_id for s in plan_shards(registry.discover(root), 3, spelled)]

    assert ids(first, first) != ids(second, second)  # a second root never replaces the first one's rows
    monkeypatch.chdir(tmp_path)
    assert ids(first, first) == ids(Path("first"), Path("first"))  # relative or absolute: the same shards


def test_two_data_roots_of_one_layout_in_one_output_keep_every_row_under_their_own_ids(pristine, tmp_path, monkeypatch):
    layout, per_root = OutputLayout(tmp_path / "out"), {}
    for name in ("first", "second"):
        root = _scene(pristine, tmp_path / name / "kitchen").parent
        _, results = _curated(root, layout.root)
        for result in results:
            for table in SHARD_TABLES:
                commit_shard(layout, table, result.shard_id, [s for s in result.staged if s.table == table], "run")
        per_root[name] = sum(r.row_counts["qa"] for r in results)
    assert per_root["first"] == per_root["second"] > 0  # the same questions: they are drawn without the root's tag

    def ids(table: str, column: str) -> list[str]:
        return query(layout, f"SELECT {column} FROM {table}").column(0).to_pylist()

    assert len(ids("qa", "qa_id")) == sum(per_root.values())  # every row kept
    for table, column in (("videos", "scene_id"), ("scenes", "scene_id"), ("objects", "object_id"),
                          ("qa", "qa_id")):
        assert len(set(ids(table, column))) == len(ids(table, column)), (table, column)
    tags = {data_root_tag(tmp_path / name) for name in per_root}
    assert sorted(ids("scenes", "scene_id")) == sorted(rooted_scene_id("kitchen", tag) for tag in tags)
    assert {source_scene_id(s) for s in ids("qa", "scene_id")} == {"kitchen"}
    monkeypatch.chdir(tmp_path)  # named by a relative path or through a link: the same root, the same ids
    (tmp_path / "via-link").symlink_to(tmp_path / "first")
    assert data_root_tag(Path("first")) == data_root_tag(tmp_path / "via-link") == data_root_tag(tmp_path / "first")


def test_scene_folders_of_one_name_in_different_folders_get_different_ids(pristine, tmp_path):
    root = tmp_path / "data"
    _scene(pristine, root / "top")
    _scene(pristine, root / "a" / "scene", frames=True)
    _scene(pristine, root / "b" / "scene")
    ids = {i.uri: i.scene_id for i in registry.discover(root)}
    assert ids == {"a/scene/frames": "a__scene", "b/scene/video.mp4": "b__scene", "top/video.mp4": "top"}


def test_a_scene_id_two_folders_would_share_is_refused_for_the_second(pristine, tmp_path):
    root = tmp_path / "data"
    _scene(pristine, root / "a" / "b", frames=True)
    _scene(pristine, root / "a__b")
    (shard,) = plan_shards(registry.discover(root), 5, root)
    assert [(i.uri, i.refused) for i in shard.items] == [
        ("a/b/frames", None), ("a__b/video.mp4", "a__b/video.mp4: scene id 'a__b' is already used by a/b/frames")]


# Row 5: video resolution differs from depth, masks and intrinsics.

def test_frames_of_another_resolution_than_the_annotations_are_refused(pristine, tmp_path):
    root = tmp_path / "data"
    scene = _scene(pristine, root / "scene", frames=True)
    for frame in (scene / "frames").iterdir():
        cv2.imwrite(str(frame), cv2.resize(cv2.imread(str(frame)), (1024, 768)))
    with pytest.raises(AnnotationError, match=r"frames: frames are 1024×768, .*depth.npz, .*masks.npz and "
                                              r".*cameras.json intrinsics are 512×384"):
        ANNOTATED.read(root, _item(root, "scene/frames"), POLICY)


# Rows 6, 7, 8, 13: every number finite, boxes solid, up a direction, instance ids consistent.

def _set(path: list, value):
    def edit(data):
        target = data
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _drop_first_object(data):
    data["objects"] = data["objects"][1:]


def _repeat_first_object(data):
    data["objects"].append(data["objects"][0])


@pytest.mark.parametrize("file, edit, message", [
    ("cameras.json", _set(["intrinsics", "fx"], float("inf")), "cameras.json: intrinsics.fx: Input should be a "
                                                               "finite number"),
    ("cameras.json", _set(["fps"], float("inf")), "cameras.json: fps: Input should be a finite number"),
    ("cameras.json", _set(["intrinsics", "cx"], float("nan")), "cameras.json: intrinsics.cx: Input should be a "
                                                               "finite number"),
    ("cameras.json", _set(["intrinsics", "cx"], 9000.0), "cameras.json: intrinsics: principal point (9000.0, "),
    ("scene.json", _set(["up"], [0, 0, 0]), "scene.json: up: Value error, gravity up must be a non-zero vector"),
    ("scene.json", _set(["objects", 0, "box", "size", 1], -0.1), "scene.json: objects.0.box.size: Value error, "
                                                                 "a negative extent"),
    ("scene.json", _set(["objects", 0, "box", "size", 2], 0.0), "scene.json: objects.0.box: Value error, an "
                                                                "object's box needs every extent positive"),
    ("scene.json", _set(["objects", 0, "box", "center", 0], float("nan")), "scene.json: objects.0.box.center.0: "
                                                                           "Input should be a finite number"),
    ("scene.json", _repeat_first_object, "scene.json: objects: Value error, instance_id 1 listed more than once"),
    ("scene.json", _drop_first_object, "masks.npz: instance ids [1] at the keyframes are not objects of "),
])
@pytest.mark.parametrize("frames", [False, True], ids=["video", "frames"])
def test_bad_annotations_are_refused_naming_file_and_field(pristine, tmp_path, file, edit, message, frames):
    root = tmp_path / "data"
    scene = _scene(pristine, root / "scene", frames=frames)
    _edit_json(scene / file, edit)
    with pytest.raises(SourceError) as error:
        ANNOTATED.read(root, next(registry.discover(root)), POLICY)
    assert message in str(error.value)


def test_mixed_resolution_frames_are_refused_naming_the_frame(pristine, tmp_path):
    root = tmp_path / "data"
    scene = _scene(pristine, root / "scene", frames=True)
    frame = scene / "frames" / "000003.png"
    cv2.imwrite(str(frame), cv2.resize(cv2.imread(str(frame)), (256, 192)))
    with pytest.raises(VideoDecodeError, match=r"000003.png: frame 3 is 256×192, frame 0 \(000000.png\) is 512×384"):
        ANNOTATED.read(root, _item(root, "scene/frames"), POLICY)


def test_bad_input_is_one_failure_row_at_once_not_retried(pristine, tmp_path):
    root = tmp_path / "data"
    _scene(pristine, root / "good")
    _edit_json(_scene(pristine, root / "infinite_fx", frames=True) / "cameras.json",
               _set(["intrinsics", "fx"], float("inf")))
    mixed = _scene(pristine, root / "mixed", frames=True)
    (mixed / "frames" / "000003.png").write_bytes(cv2.imencode(".png", np.zeros((10, 10, 3), np.uint8))[1])
    _edit_json(_scene(pristine, root / "negative_box", frames=True) / "scene.json",
               _set(["objects", 0, "box", "size", 0], -1.0))
    _, (result,) = _curated(root, tmp_path / "out")
    failures = {f.uri: f for f in result.failures}
    assert {uri: (f.stage, f.attempts) for uri, f in failures.items()} == {
        "infinite_fx/frames": ("annotations", 1), "mixed/frames": ("probe", 1),
        "negative_box/frames": ("annotations", 1)}
    assert "cameras.json: intrinsics.fx" in failures["infinite_fx/frames"].message
    assert failures["negative_box/frames"].scene_id == rooted_scene_id("negative_box", data_root_tag(root))
    assert result.retried == 0 and result.row_counts["scenes"] == 1  # the good scene is curated


# Row 10: a render killed mid-way (its hidden staging folder was curated as a plain video).

def test_partial_renders_are_never_inputs_and_are_removed_on_the_next_run(pristine, tmp_path):
    root = tmp_path / "data"
    _scene(pristine, root / "tabletop_000")
    dead = shutil.copytree(pristine, root / ".tabletop_001.partial-999999999", ignore=shutil.ignore_patterns("*.json"))
    live = shutil.copytree(pristine, root / f".indoor_000.partial-{os.getpid()}")
    assert [i.uri for i in registry.discover(root)] == ["tabletop_000/video.mp4"]
    generate_default_dataset(root, scenes_per_tier=0)
    assert not dead.exists() and live.exists()  # a live process's render is left alone


# Row 11: temporary files of a killed or disk-full write.

def test_vacuum_removes_temporary_files_of_dead_writes(tmp_path):
    layout = OutputLayout(tmp_path)
    old = (datetime.now(UTC) - TEMPORARY_GRACE - timedelta(minutes=1)).timestamp()
    stale = [tmp_path / "tables" / "qa" / ".part-x.parquet.0123abcd.tmp", tmp_path / ".catalog.duckdb.89abcdef.tmp",
             tmp_path / ".catalog.duckdb.89abcdef.tmp.wal", tmp_path / "artifacts" / "frames" / ".ab.png.0000ffff.tmp"]
    fresh = tmp_path / "tables" / "qa" / ".part-y.parquet.4567abcd.tmp"
    for path in [*stale, fresh]:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"half")
    for path in stale:
        os.utime(path, (old, old))
    assert vacuum(layout, timedelta(hours=1), sweep_orphans=False).temporaries_removed == 0
    assert vacuum(layout, timedelta(hours=1)).temporaries_removed == 4
    assert not any(p.exists() for p in stale) and fresh.exists()


# Row 14: the same video twice, a symlinked scene folder, a 1-frame scene, an empty data root.

def test_the_same_video_under_two_scene_ids_is_curated_once(pristine, tmp_path):
    root = tmp_path / "data"
    _scene(pristine, root / "kitchen")
    _scene(pristine, root / "kitchen_copy")
    (root / "a_kitchen_link").symlink_to(root / "kitchen", target_is_directory=True)  # listed after its target
    (root / "outside_link").symlink_to(pristine, target_is_directory=True)
    items, (result,) = _curated(root, tmp_path / "out")
    assert [i.uri for i in items] == ["kitchen/video.mp4", "kitchen_copy/video.mp4", "a_kitchen_link/video.mp4",
                                      "outside_link/video.mp4"]
    failures = {f.uri: (f.stage, f.message) for f in result.failures}
    assert failures["kitchen_copy/video.mp4"] == (
        "discover", "kitchen_copy/video.mp4: the same video as kitchen/video.mp4 (identical bytes); curated once there")
    assert failures["a_kitchen_link/video.mp4"] == (
        "discover", "a_kitchen_link/video.mp4: the same files as kitchen/video.mp4 (a link or a repeated row); "
                    "curated once there")
    assert failures["outside_link/video.mp4"][0] == "discover"
    assert "outside the data root" in failures["outside_link/video.mp4"][1]
    assert result.row_counts["videos"] == 1 and result.row_counts["scenes"] == 1


def test_a_one_frame_scene_is_a_failure_with_its_reason(pristine, tmp_path):
    root = tmp_path / "data"
    scene = _scene(pristine, root / "still", frames=True)
    for frame in sorted((scene / "frames").iterdir())[1:]:
        frame.unlink()
    _edit_json(scene / "cameras.json", lambda data: data.update(frames=data["frames"][:1]))
    for name, key in (("depth.npz", "depth"), ("masks.npz", "masks")):
        with np.load(scene / name) as archive:
            first = archive[key][:1]
        np.savez_compressed(scene / name, **{key: first})
    _, (result,) = _curated(root, tmp_path / "out")
    (failure,) = result.failures
    assert (failure.stage, failure.error_type) == ("facts", "TooFewKeyframes")
    assert failure.message == "still/frames: 1 keyframe(s) of 1 frame(s) at stride 1; a scene needs at least 2"
    assert result.row_counts["videos"] == 1  # ingested, like any video that fails later


def test_an_empty_data_root_is_refused_before_anything_runs(tmp_path):
    (tmp_path / ".tabletop_000.partial-1").mkdir()  # hidden: not an input
    with pytest.raises(registry.NoItemsError, match=f"data root {tmp_path}: nothing to curate"):
        registry.discover(tmp_path)


@pytest.mark.e2e
def test_curate_on_an_empty_data_root_is_a_usage_error(tmp_path):
    (tmp_path / "data").mkdir()
    run = run_curate(tmp_path / "data", tmp_path / "out", "--no-default-data")
    assert run.returncode == EXIT_USAGE, run.stderr[-3000:]
    assert str(tmp_path / "data") in run.stderr and "succeeded" not in run.stdout
