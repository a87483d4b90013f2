"""A curate run that cannot start says so before any shard runs: exit 2 within seconds, one message listing
everything missing (data root, output root, Ray endpoint, specialist weights, GPUs), no traceback, nothing created."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flows.preflight import check
from schemas.arrow import to_arrow
from schemas.config import CurateConfig
from schemas.runs import FailureRow
from storage.commits import commit_shard, stage_table
from storage.layout import FORMAT_VERSION, OutputLayout
from tests.conftest import REPO, free_port

PREFLIGHT_BUDGET_S = 10


def _curate(*args: str) -> tuple[subprocess.CompletedProcess, float]:
    """The real command line on a machine without a visible GPU; its result and its wall time."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "curate", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    return proc, time.monotonic() - started


def _profile(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_gpu_profile_on_a_cpu_only_machine_exits_2_in_seconds(tmp_path):
    (tmp_path / "data" / "plain").mkdir(parents=True)
    (tmp_path / "data" / "plain" / "clip.mp4").write_bytes(b"\0" * 64)
    (tmp_path / "yolo.pt").write_bytes(b"\0" * 64)
    profile = _profile(tmp_path / "gpu.yaml", "default:\n  detector: {weights: yolo.pt, num_gpus: 0.5}\n")

    proc, seconds = _curate("--data-root", str(tmp_path / "data"), "--output", str(tmp_path / "out"),
                            "--specialists", str(profile), "--no-default-data")

    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert seconds < PREFLIGHT_BUDGET_S, seconds
    assert "cannot start, 1 problem:" in proc.stderr
    assert "asks Ray for 0.5 GPU (detection yolo.pt 0.5)" in proc.stderr and "has 0" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "out").exists()


def test_one_message_lists_everything_missing(tmp_path):
    """A mistyped data root, an output root that cannot be created, an unreachable Ray cluster and missing weights:
    all four in one message, at once; the mistyped data root is not created (nor rendered into)."""
    (tmp_path / "a-file").write_text("not a folder")
    profile = _profile(tmp_path / "profile.yaml", "default:\n  depth: {weights: models/depth-anything-v2-small, "
                                                  "kind: relative}\n  detector: {weights: models/yolov8n.pt}\n")

    proc, seconds = _curate("--data-root", str(tmp_path / "dta"), "--output", str(tmp_path / "a-file" / "out"),
                            "--ray-address", f"127.0.0.1:{free_port()}", "--specialists", str(profile))

    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert seconds < PREFLIGHT_BUDGET_S, seconds
    lines = proc.stderr.splitlines()
    assert lines[0] == "spacevista curate: cannot start, 5 problems:", proc.stderr
    assert f"data root {tmp_path / 'dta'} does not exist; only the default data root data/default" in lines[1]
    assert f"{tmp_path / 'a-file'} is not a directory" in lines[2]
    assert "Ray cluster 127.0.0.1:" in lines[3] and "is not reachable" in lines[3]
    assert lines[4].endswith("(default.depth); `spacevista models pull depth-anything-v2-small --models-dir "
                             f"{tmp_path / 'models'}`")
    assert lines[5].startswith(f"  - specialist weights missing: {tmp_path / 'models' / 'yolov8n.pt'}")
    assert "Traceback" not in proc.stderr and not (tmp_path / "dta").exists()


@pytest.fixture
def read_only_dir(tmp_path):
    """A folder nothing can be created in: mode 0555, or for root (who ignores modes) a read-only tmpfs."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        yield folder
        folder.chmod(0o755)
        return
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"running as root and cannot mount a read-only tmpfs: {mounted.stderr.decode().strip()}")
    yield folder
    subprocess.run(["umount", str(folder)], check=True)


def test_read_only_output_root(read_only_dir, default_data_like):
    for output in (read_only_dir, read_only_dir / "out"):
        problems = check(CurateConfig(data_root=default_data_like, output_root=output))
        assert len(problems) == 1 and problems[0].startswith(f"output root {output} is not writable: "), problems


@pytest.fixture
def default_data_like(tmp_path):
    """A data root holding one (unreadable) plain video: enough for discovery."""
    (tmp_path / "data" / "plain").mkdir(parents=True)
    (tmp_path / "data" / "plain" / "clip.mp4").write_bytes(b"\0" * 64)
    return tmp_path / "data"


def test_only_the_default_data_root_may_be_created(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    default = CurateConfig(data_root=Path("data/default"), output_root=tmp_path / "out")
    assert check(default) == []
    assert check(default.model_copy(update={"generate_default_data": False})) == [
        "data root data/default does not exist"]
    typo = check(CurateConfig(data_root=tmp_path / "data" / "defualt", output_root=tmp_path / "out"))
    assert typo == [f"data root {tmp_path / 'data' / 'defualt'} does not exist; only the default data root "
                    "data/default is created and rendered into"]
    assert not (tmp_path / "data").exists() and not (tmp_path / "out").exists()


def test_an_output_root_of_another_table_format_is_refused_before_anything_runs(tmp_path, default_data_like):
    """An output root written by another format version (here: before frames were numbered from 1) is one problem,
    so its rows are never read with this version's column meanings."""
    layout = OutputLayout(tmp_path / "out")
    rows = to_arrow([FailureRow(run_id="r", uri="v.mp4", scene_id=None, video_id=None, stage="probe",
                                error_type="VideoDecodeError", message="bad")], FailureRow)
    commit_shard(layout, "failures", "s", stage_table(layout, "failures", rows, "s"), "r")
    config = CurateConfig(data_root=default_data_like, output_root=layout.root)
    assert check(config) == []
    checkpoint = Path(layout.manifest("failures", 1))
    checkpoint.write_text(checkpoint.read_text().replace(f'"format_version":{FORMAT_VERSION}', '"format_version":3'))
    (problem,) = check(config)
    assert f"format_version 3 is not {FORMAT_VERSION}" in problem and "use a new --output" in problem
