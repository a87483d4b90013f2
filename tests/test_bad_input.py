"""Bad inputs end in `failures` with the input, the stage and a clear message; good videos still complete;
the command exits with the partial-success code, distinct from a crash."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from flows.cli import EXIT_PARTIAL
from schemas.paths import source_scene_id
from storage.catalog import open_catalog
from storage.layout import OutputLayout
from tests.conftest import run_curate


def _copy_scene(default_data, name: str, root, source: str):
    """A copy of one default scene; each bad scene copies another one (a copied video is refused as a repeat)."""
    return shutil.copytree(default_data / source, root / name)


@pytest.fixture(scope="module")
def bad_run(default_data, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad-data")
    outside = tmp_path_factory.mktemp("outside")
    _copy_scene(default_data, "good_scene", root, "tabletop_000")
    good_video = (root / "good_scene" / "video.mp4").read_bytes()

    (root / "plain").mkdir()
    (root / "plain" / "zero_bytes.mp4").write_bytes(b"")
    (root / "plain" / "truncated.mp4").write_bytes(good_video[: len(good_video) // 3])
    (root / "plain" / "not_a_video.mp4").write_text("this is a text file, not an H.264 stream\n" * 20)
    (outside / "elsewhere.mp4").write_bytes(good_video)
    (root / "plain" / "escape.mp4").symlink_to(outside / "elsewhere.mp4")

    nan_scene = _copy_scene(default_data, "nan_depth", root, "indoor_000")
    with np.load(nan_scene / "depth.npz") as archive:
        depth = np.full_like(archive["depth"], np.nan)
    np.savez_compressed(nan_scene / "depth.npz", depth=depth)

    pose_scene = _copy_scene(default_data, "bad_pose", root, "indoor_001")
    cameras = json.loads((pose_scene / "cameras.json").read_text())
    for frame in cameras["frames"]:
        frame["camera_to_world"][0][0] *= 3.0  # a scaled axis: not a rotation
    (pose_scene / "cameras.json").write_text(json.dumps(cameras))

    units_scene = _copy_scene(default_data, "wrong_units", root, "tabletop_001")
    cameras = json.loads((units_scene / "cameras.json").read_text())
    cameras["depth_unit"] = "mm"  # depth is in metres: read as mm the tabletop shrinks 1000×
    (units_scene / "cameras.json").write_text(json.dumps(cameras))

    missing = _copy_scene(default_data, "missing_cameras", root, "outdoor_000")
    (missing / "cameras.json").unlink()

    run = run_curate(root, tmp_path_factory.mktemp("bad-output"), "--no-default-data", "--shard-size", "3")
    with open_catalog(OutputLayout(run.output)) as con:
        failures = {row[0]: row[1:] for row in con.sql(
            "SELECT uri, stage, error_type, message FROM failures").fetchall()}
        qa_by_scene = {source_scene_id(scene): n
                       for scene, n in con.sql("SELECT scene_id, count(*) FROM qa GROUP BY 1").fetchall()}
        videos = {row[0] for row in con.sql("SELECT uri FROM videos").fetchall()}
    return run, failures, qa_by_scene, videos


@pytest.mark.e2e
def test_partial_success_exit_code(bad_run):
    run, *_ = bad_run
    assert run.returncode == EXIT_PARTIAL, run.stderr[-3000:]
    assert "partial" in run.stdout and "FAILED" in run.stdout


@pytest.mark.e2e
@pytest.mark.parametrize("uri, stage, needle", [
    ("plain/zero_bytes.mp4", "probe", "empty (0 bytes)"),
    ("plain/truncated.mp4", "probe", "not a readable video"),
    ("plain/not_a_video.mp4", "probe", "not a readable video"),
    ("plain/escape.mp4", "discover", "outside the data root"),
    ("nan_depth/video.mp4", "facts", "no valid value"),
    ("bad_pose/video.mp4", "annotations", "is not a rotation"),
    ("wrong_units/video.mp4", "facts", "check the depth unit"),
    ("missing_cameras/video.mp4", "annotations", "cameras.json: missing"),
])
def test_bad_input_is_a_failure_row_with_a_clear_message(bad_run, uri, stage, needle):
    _, failures, *_ = bad_run
    assert uri in failures, sorted(failures)
    got_stage, _, message = failures[uri]
    assert got_stage == stage and needle in message, failures[uri]


@pytest.mark.e2e
def test_good_video_completes_beside_bad_ones(bad_run):
    _, failures, qa_by_scene, videos = bad_run
    assert "good_scene/video.mp4" not in failures
    assert qa_by_scene.get("good_scene", 0) > 20
    assert set(qa_by_scene) == {"good_scene"}  # no QA from any failed scene
    # scenes that decoded but failed later keep their ingest rows; undecodable files have none
    assert {"nan_depth/video.mp4", "good_scene/video.mp4"} <= videos
    assert "plain/zero_bytes.mp4" not in videos
