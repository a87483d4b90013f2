"""A video whose curation raises, or whose Ray worker dies, is retried a bounded number of times and then
quarantined in `failures` with the cause and the attempt count; the other videos of its shard complete, the run
exits with the partial-success code and its summary says what was retried and quarantined. Faults are injected by
a test-only sitecustomize (tests/faultinject) in the driver and Ray's workers; nothing is mocked."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from flows.cli import EXIT_PARTIAL
from schemas.paths import source_scene_id
from storage.catalog import query
from storage.layout import OutputLayout
from tests.conftest import CurateRun, run_curate

SCENES = ("indoor_000", "outdoor_000", "tabletop_000")  # one shard, in this order: the poison one is in the middle
POISON = "outdoor_000"
FAULTINJECT = Path(__file__).parent / "faultinject"


@pytest.fixture(scope="module")
def three_scenes(default_data, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("three-scenes")
    for name in SCENES:
        shutil.copytree(default_data / name, root / name)
    return root


def _curate_with_faults(data: Path, output: Path, faults: str, state: Path) -> CurateRun:
    state.mkdir(exist_ok=True)
    env = {"SPACEVISTA_FAULTS": faults, "SPACEVISTA_FAULT_STATE": str(state),
           "PYTHONPATH": os.pathsep.join([str(FAULTINJECT), os.environ.get("PYTHONPATH", "")])}
    return run_curate(data, output, "--shard-size", str(len(SCENES)), "--no-default-data", env=env)


def _tables(output: Path) -> tuple[set[str], list[dict], dict]:
    layout = OutputLayout(output)
    videos = {source_scene_id(row["scene_id"]) for row in query(layout, "SELECT scene_id FROM videos").to_pylist()}
    failures = query(layout, "SELECT uri, stage, error_type, message, attempts FROM failures").to_pylist()
    run, = query(layout, "SELECT * FROM runs").to_pylist()
    return videos, failures, run


@pytest.mark.e2e
def test_raising_video_is_retried_then_quarantined(three_scenes, tmp_path):
    run = _curate_with_faults(three_scenes, tmp_path / "out", f"{POISON}=raise,tabletop_000=raise-once",
                              tmp_path / "state")
    assert run.returncode == EXIT_PARTIAL, run.stdout[-3000:] + run.stderr[-3000:]
    videos, failures, runs_row = _tables(run.output)
    assert videos == {"indoor_000", "tabletop_000"}  # tabletop_000 failed once and passed on its second attempt
    failure, = failures
    assert failure["uri"] == f"{POISON}/video.mp4" and failure["stage"] == "quarantine"
    assert failure["error_type"] == "InjectedFault" and failure["attempts"] == 2
    assert f"injected fault on {POISON}" in failure["message"] and "all 2 attempts" in failure["message"]
    assert "retried 2  quarantined 1" in run.stdout
    assert f"FAILED {POISON}/video.mp4 [quarantine]" in run.stdout
    assert (runs_row["n_retried"], runs_row["n_quarantined"], runs_row["n_failures"]) == (2, 1, 1)


@pytest.mark.e2e
def test_dying_worker_splits_its_shard_and_only_the_culprit_is_quarantined(three_scenes, tmp_path):
    run = _curate_with_faults(three_scenes, tmp_path / "out", f"{POISON}=exit", tmp_path / "state")
    assert run.returncode == EXIT_PARTIAL, run.stdout[-3000:] + run.stderr[-3000:]
    videos, failures, runs_row = _tables(run.output)
    assert videos == {"indoor_000", "tabletop_000"}  # the one after the poison video too
    failure, = failures
    assert failure["uri"] == f"{POISON}/video.mp4" and failure["stage"] == "quarantine"
    assert failure["error_type"] == "WorkerCrashedError", failure
    assert failure["attempts"] == 4 and "all 4 attempts (2 with its whole shard)" in failure["message"], failure
    assert "retried 3  quarantined 1" in run.stdout  # the whole shard was run again, one video per task
    assert (runs_row["n_retried"], runs_row["n_quarantined"]) == (3, 1)
