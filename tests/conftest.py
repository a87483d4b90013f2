"""Session fixtures: one real `spacevista curate` run on the default synthetic set, rendered by that run."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from runtime.offline import quiet_environment

quiet_environment()

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class CurateRun:
    data_root: Path
    output: Path
    returncode: int
    stdout: str
    stderr: str


def run_curate(data_root: Path, output: Path, *extra: str, env: dict | None = None) -> CurateRun:
    """The real command line, in a fresh process (Prefect's temporary server and a local Ray inside)."""
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "curate", "--data-root", str(data_root),
                           "--output", str(output), "--num-cpus", "2", *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=900, env={**os.environ, **(env or {})})
    return CurateRun(data_root, output, proc.returncode, proc.stdout, proc.stderr)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (for a server a test starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> CurateRun:
    """The main job as a user runs it: an empty data root, so the flow renders the default set first."""
    data_root = tmp_path_factory.mktemp("default-data")
    run = run_curate(data_root, tmp_path_factory.mktemp("default-output"))
    assert run.returncode == 0, f"curate failed ({run.returncode}):\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    return run


@pytest.fixture(scope="session")
def default_data(default_run) -> Path:
    """The rendered default set (2 scenes per tier, exact ground truth beside each video)."""
    return default_run.data_root


@pytest.fixture(scope="session")
def tiny_depth_anything(tmp_path_factory) -> dict[str, Path]:
    """Random-init tiny Depth Anything models saved like real weights: {"metric": dir, "relative": dir}."""
    from tests.tiny_models import build_depth_anything  # noqa: PLC0415 (imports torch/transformers)

    root = tmp_path_factory.mktemp("depth-anything")
    return {kind: build_depth_anything(root / kind, kind=kind, seed=seed)
            for seed, kind in enumerate(("metric", "relative"))}


from tests.prefect_server import prefect_server  # noqa: E402,F401 (one loopback Prefect server for the session)
