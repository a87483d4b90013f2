"""A curate run killed with SIGKILL mid-way (driver, Prefect server and Ray workers, the whole process group) and
run again with the same configuration ends with the same tables, row for row, as an uninterrupted run: no
duplicates, no lost rows; the shards committed before the kill are reused, not curated again, and a shard curated
again takes its specialist outputs from the cache (counted in the summary)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import psutil
import pytest
import yaml

from schemas.tiers import ScaleTier
from sources.synthetic import RenderSettings, generate_scene
from sources.synthetic.video import Mp4Writer
from storage.catalog import query
from storage.commits import table_files
from storage.layout import OutputLayout
from storage.tables import SHARD_TABLES
from tests.conftest import REPO, run_curate

BOOKKEEPING = {"run_id"}
"""Columns that name the run that wrote a row (`videos`, `qa`, `rejects`, `failures`, `shards`): the only ones
allowed to differ; `runs` itself is compared by its counts."""

N_SHARDS = 5  # the default set: 10 videos, 2 per shard


def _row_hashes(layout: OutputLayout, table: str) -> Counter:
    """The multiset of a table's rows, each as a content hash of its columns (bookkeeping columns left out)."""
    rows = query(layout, f"SELECT * FROM {table}").to_pylist()
    return Counter(hashlib.sha256(json.dumps({k: v for k, v in row.items() if k not in BOOKKEEPING},
                                             sort_keys=True, default=str).encode()).hexdigest() for row in rows)


def _committed(layout: OutputLayout) -> int:
    return len(table_files(layout, "shards"))


def _kill_when_partly_committed(data_root: Path, output: Path) -> int:
    """Start `spacevista curate` like `run_curate` does, SIGKILL its process group (and any descendant that left
    it) once at least one shard is committed; the number of shards committed when it died."""
    layout = OutputLayout(output)
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "curate", "--data-root", str(data_root),
                             "--output", str(output), "--num-cpus", "2"], cwd=REPO, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            # its own temporary Prefect server, killed with it (not the tests' shared one)
                            env={k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"})
    try:
        deadline = time.monotonic() + 300
        while _committed(layout) == 0 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        descendants = psutil.Process(proc.pid).children(recursive=True)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
    for child in descendants:
        if child.is_running():
            child.kill()
    proc.wait()
    psutil.wait_procs(descendants, timeout=30)
    assert proc.returncode == -signal.SIGKILL, f"curate ended on its own ({proc.returncode}) before the kill"
    return _committed(layout)


@pytest.mark.e2e
def test_killed_run_resumes_to_identical_tables(default_run, tmp_path):
    output = tmp_path / "out"
    committed_at_kill = _kill_when_partly_committed(default_run.data_root, output)
    assert 1 <= committed_at_kill < N_SHARDS, committed_at_kill

    resumed = run_curate(default_run.data_root, output)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    reused = int(re.search(r"shards reused (\d+)", resumed.stdout).group(1))
    assert reused == committed_at_kill  # the committed shards were not curated again

    expected, got = OutputLayout(default_run.output), OutputLayout(output)
    for table in (*SHARD_TABLES, "shards"):
        want, have = _row_hashes(expected, table), _row_hashes(got, table)
        assert have == want, f"{table}: {sum((have - want).values())} extra rows, {sum((want - have).values())} lost"
    assert _committed(got) == N_SHARDS
    counts = "n_videos, n_scenes, n_qa, n_rejects, n_failures"
    assert query(got, f"SELECT {counts} FROM runs").to_pylist() == query(expected, f"SELECT {counts} FROM runs"
                                                                         ).to_pylist()
    assert query(got, "SELECT n_shards_reused FROM runs").to_pylist() == [{"n_shards_reused": reused}]


@pytest.mark.e2e
def test_rerun_reuses_clean_shards_and_cached_specialist_outputs(tiny_depth_anything, tmp_path):
    """Plain videos through tiny random-init specialists, one per shard: the clip's shard is committed clean and
    reused; the flat video fails (no SfM reconstruction), so its shard is curated again, from the cache."""
    from tests.tiny_models import random_yolo_yaml  # noqa: PLC0415 (imports torch/transformers)

    data = tmp_path / "data"
    settings = RenderSettings(width=320, height=240, num_frames=8)
    scene = generate_scene(ScaleTier.TABLETOP, 0, tmp_path / "render", settings=settings)
    (data / "tabletop").mkdir(parents=True)
    (scene / "video.mp4").rename(data / "tabletop" / "clip.mp4")
    with Mp4Writer(data / "flat.mp4", settings.width, settings.height, settings.fps) as video:
        for _ in range(settings.num_frames):
            video.write(np.full((settings.height, settings.width, 3), 128, np.uint8))
    profile = {"default": {"depth": {"weights": str(tiny_depth_anything["metric"]), "kind": "metric",
                                     "input_size": 28},
                           "detector": {"weights": str(random_yolo_yaml(tmp_path / "yolo")), "image_size": 64},
                           "sfm": {"overlap": 4}, "keyframe_stride": 1}}
    (tmp_path / "profile.yaml").write_text(yaml.safe_dump(profile))
    (tmp_path / "curate.yaml").write_text(yaml.safe_dump({"specialists": "profile.yaml", "max_keyframes": 8}))
    args = ("--config", str(tmp_path / "curate.yaml"), "--shard-size", "1", "--no-default-data")

    first = run_curate(data, tmp_path / "out", *args)
    assert first.returncode == 3, first.stdout[-3000:] + first.stderr[-3000:]
    assert "FAILED flat.mp4 [facts]" in first.stdout
    assert "shards reused 0  specialist cache hits 0  misses 4" in first.stdout  # SfM ×2, depth, detection

    second = run_curate(data, tmp_path / "out", *args)
    assert second.returncode == 3, second.stdout[-3000:] + second.stderr[-3000:]
    assert "shards reused 1  specialist cache hits 1  misses 0" in second.stdout  # flat.mp4's cached SfM failure
    layout = OutputLayout(tmp_path / "out")
    assert query(layout, "SELECT uri FROM videos ORDER BY uri").to_pylist() == [{"uri": "flat.mp4"},
                                                                               {"uri": "tabletop/clip.mp4"}]


def test_fingerprint_follows_the_specialist_weights_not_only_the_profile_file(tmp_path):
    """New weights under the same path make every shard curated again; an untouched profile keeps them reused."""
    from pipeline.shard import Shard, _config_digest, shard_fingerprint  # noqa: PLC0415
    from schemas.config import CurateConfig  # noqa: PLC0415
    from sources.discovery import VideoItem  # noqa: PLC0415

    weights = tmp_path / "data" / "detector.pt"
    weights.parent.mkdir()
    weights.write_bytes(b"first weights")
    profile = {"default": {"detector": {"weights": "detector.pt"}}}
    (tmp_path / "data" / "profile.yaml").write_text(yaml.safe_dump(profile))
    shard = Shard(shard_id="s", items=(VideoItem(uri="a.mp4", path=tmp_path / "data" / "a.mp4", source="video_folder",
                                                  scene_id="a"),))

    def fingerprint() -> str:
        _config_digest.cache_clear()  # one run computes it once; these are three runs
        return shard_fingerprint(shard, CurateConfig(data_root=tmp_path / "data", output_root=tmp_path / "out",
                                                     specialists=tmp_path / "data" / "profile.yaml"))

    before = fingerprint()
    assert fingerprint() == before
    weights.write_bytes(b"retrained weights, another size")
    assert fingerprint() != before
