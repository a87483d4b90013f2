"""The manifest log: deltas with periodic checkpoints read back as whole versions, by this process and by others."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from schemas.arrow import to_arrow
from schemas.runs import FailureRow
from storage import manifests
from storage.commits import commit_shard, read_manifest, stage_table, table_files
from storage.layout import OutputLayout

REPO = Path(__file__).resolve().parents[1]


def _commit(layout: OutputLayout, shard: str, rows: int = 1, run: str = "r1") -> None:
    data = to_arrow([FailureRow(run_id=run, uri=f"{shard}/{i}.mp4", scene_id=None, video_id=None, stage="probe",
                                error_type="VideoDecodeError", message="bad") for i in range(rows)], FailureRow)
    commit_shard(layout, "failures", shard, stage_table(layout, "failures", data, shard), run)


def _fresh_read(layout: OutputLayout, version: int | None = None) -> dict:
    """What a process that never read this table sees."""
    manifests._LAST_READ.clear()
    return read_manifest(layout, "failures", version)


@pytest.fixture
def small_interval(monkeypatch):
    monkeypatch.setattr(manifests, "CHECKPOINT_INTERVAL", 4)


def test_every_version_reads_back_the_same_from_a_cold_process(tmp_path, small_interval):
    layout = OutputLayout(tmp_path)
    seen = {}
    for i in range(11):
        _commit(layout, f"shard-{i % 3}", rows=i + 1, run=f"r{i}")
        manifest = read_manifest(layout, "failures")
        seen[manifest["version"]] = (dict(manifest["files"]), dict(manifest["superseded"]))
    assert sorted(seen) == list(range(1, 12))
    for version in manifests.manifest_versions(layout, "failures"):  # 8 (a checkpoint) to 11
        files, superseded = seen[version]
        cold = _fresh_read(layout, version)
        assert (dict(cold["files"]), dict(cold["superseded"])) == (files, superseded)
    assert manifests.manifest_versions(layout, "failures") == [8, 9, 10, 11]
    assert {entry["shard"]: entry["rows"] for entry in _fresh_read(layout)["files"].values()} == {
        "shard-0": 10, "shard-1": 11, "shard-2": 9}


def test_a_commit_writes_a_delta_of_its_own_files_only(tmp_path):
    layout = OutputLayout(tmp_path)
    for i in range(60):
        _commit(layout, f"shard-{i:03d}")
    deltas = sorted(Path(layout.manifests("failures")).glob("*.delta.json"))
    sizes = [path.stat().st_size for path in deltas]
    assert len(deltas) == 59 and max(sizes) - min(sizes) < 16  # the 60th commit writes as much as the 2nd
    last = json.loads(deltas[-1].read_text())
    ours = [path.removeprefix(layout.table_dir("failures") + "/") for path in table_files(layout, "failures")
            if "shard-059" in path]
    assert list(last["add"]) == ours and last["remove"] == {}


def test_a_commit_after_another_process_committed_keeps_that_commit(tmp_path, small_interval):
    layout = OutputLayout(tmp_path)
    _commit(layout, "mine-a")
    _commit(layout, "mine-b")  # this process now holds version 2 in memory
    other = (f"from tests.test_manifest_log import _commit\nfrom storage.layout import OutputLayout\n"
             f"from storage import manifests\nmanifests.CHECKPOINT_INTERVAL = 4\n"
             f"layout = OutputLayout({str(tmp_path)!r})\n"
             f"for shard in ('theirs-a', 'theirs-b', 'mine-a'):\n    _commit(layout, shard, rows=2, run='r2')\n")
    subprocess.run([sys.executable, "-c", other], cwd=REPO, check=True)
    _commit(layout, "mine-c")  # version 6: on top of the other process's versions 3 to 5
    manifest = read_manifest(layout, "failures")
    assert manifest["version"] == 6
    rows = {entry["shard"]: entry["rows"] for entry in manifest["files"].values()}
    assert rows == {"mine-a": 2, "mine-b": 1, "theirs-a": 2, "theirs-b": 2, "mine-c": 1}
    assert len(manifest["superseded"]) == 1
    assert dict(_fresh_read(layout)["files"]) == dict(manifest["files"])


def test_a_lost_delta_is_an_error_not_a_shorter_table(tmp_path, small_interval):
    layout = OutputLayout(tmp_path)
    for i in range(7):
        _commit(layout, f"shard-{i}")
    Path(layout.manifest_delta("failures", 6)).unlink()
    with pytest.raises(RuntimeError, match="deleted before they could be read"):
        _fresh_read(layout)
