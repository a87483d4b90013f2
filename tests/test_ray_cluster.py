"""The same curate code runs on an existing Ray cluster by address: a head started with `ray start` on loopback
(quietly, as ENVIRONMENT.md says), joined with `--ray-address`, and left running when the run ends; the preflight
counts that cluster's GPUs."""

from __future__ import annotations

import os
import subprocess
import time

import psutil
import pytest

from runtime.offline import QUIET_ENVIRONMENT
from flows.ray_runtime import OBJECT_STORE_BYTES, quiet_ray_home
from schemas.tiers import ScaleTier
from sources.synthetic import RenderSettings, generate_scene
from storage.catalog import query
from storage.layout import OutputLayout
from tests.conftest import REPO, free_port, run_curate

pytestmark = pytest.mark.e2e

RAY = REPO / ".venv" / "bin" / "ray"


@pytest.fixture
def ray_head(tmp_path):
    """A one-node Ray cluster on 127.0.0.1 with no dashboard, usage stats or cloud-metadata probe; its address."""
    home = quiet_ray_home(tmp_path / "ray-home")
    env = {**os.environ, **QUIET_ENVIRONMENT, "HOME": str(home)}
    address = f"127.0.0.1:{free_port()}"
    head = subprocess.Popen([str(RAY), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                             f"--port={address.split(':')[1]}", "--num-cpus=2", "--num-gpus=0",
                             "--include-dashboard=false", "--disable-usage-stats",
                             f"--object-store-memory={OBJECT_STORE_BYTES}"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while _status(address, env).returncode != 0:
            assert head.poll() is None and time.monotonic() < deadline, "the Ray head did not come up"
            time.sleep(1)
        yield address, env
    finally:
        # only this head's processes: `ray stop` would stop every Ray on the machine
        processes = [head_process := psutil.Process(head.pid), *head_process.children(recursive=True)]
        for process in processes:
            process.kill()
        psutil.wait_procs(processes, timeout=30)


def _status(address: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([str(RAY), "status", f"--address={address}"], env=env, capture_output=True, text=True,
                          timeout=60)


def test_curate_joins_an_existing_cluster_and_leaves_it_running(ray_head, tmp_path):
    address, env = ray_head
    data_root = tmp_path / "data"
    generate_scene(ScaleTier.TABLETOP, 21, data_root / "tabletop-a", settings=RenderSettings(num_frames=8))
    generate_scene(ScaleTier.DRONE, 22, data_root / "drone-b", settings=RenderSettings(num_frames=8))

    run = run_curate(data_root, tmp_path / "out", "--no-default-data", "--ray-address", address)

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    scales = query(OutputLayout(tmp_path / "out"), "SELECT DISTINCT scale FROM qa ORDER BY 1").column(0).to_pylist()
    assert scales == ["drone", "tabletop"]
    status = _status(address, env)
    assert status.returncode == 0 and "CPU" in status.stdout, status.stdout + status.stderr

    # a profile asking for a GPU the cluster lacks is refused before anything runs, naming the cluster
    (tmp_path / "yolo.pt").write_bytes(b"\0" * 64)
    (tmp_path / "gpu.yaml").write_text("default:\n  detector: {weights: yolo.pt, num_gpus: 0.5}\n")
    refused = run_curate(data_root, tmp_path / "out", "--no-default-data", "--ray-address", address,
                         "--specialists", str(tmp_path / "gpu.yaml"))
    assert refused.returncode == 2, refused.stdout[-3000:] + refused.stderr[-3000:]
    assert f"asks Ray for 0.5 GPU (detection yolo.pt 0.5) but the Ray cluster at {address} has 0" in refused.stderr
