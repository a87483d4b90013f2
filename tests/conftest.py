"""Session-wide test plumbing: one Prefect API server for the whole session (every flow command and flow run of the
tests reports to it instead of starting a temporary server of its own), and one real `spacevista curate` run on the
default synthetic set, rendered by that run, computed once even when pytest-xdist runs several workers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TypeVar

import pytest
from filelock import FileLock

from runtime.offline import quiet_environment
from runtime.prefect_api import TemporaryApi, api_answers, free_port  # noqa: F401 (free_port: for the tests)

quiet_environment()

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")
_SESSION_API = pytest.StashKey[TemporaryApi]()
_SESSION_HOME = pytest.StashKey[Path]()
SESSION_API_START_S = 120


def pytest_sessionstart(session: pytest.Session) -> None:
    """Start the session's Prefect server, in the process that spawns the xdist workers (before them: they inherit
    PREFECT_API_URL) or in the only one; a server PREFECT_API_URL already names is used as it is. Its database, and
    that of any temporary server a test's command starts, is the session's own (PREFECT_HOME in a temporary folder):
    in the user's ~/.prefect it would grow with every test run and mix their runs with the tests'."""
    config = session.config
    if hasattr(config, "workerinput") or config.option.collectonly or os.environ.get("PREFECT_API_URL"):
        return
    home = Path(tempfile.mkdtemp(prefix="spacevista-tests-prefect-"))
    config.stash[_SESSION_HOME] = home
    os.environ["PREFECT_HOME"] = str(home)
    os.environ["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = f"sqlite+aiosqlite:///{home / 'prefect.db'}"
    api = TemporaryApi()  # launched, not waited for: it starts while the workers collect (`_session_api_answers`)
    os.environ["PREFECT_API_URL"] = api.api_url
    config.stash[_SESSION_API] = api


@pytest.fixture(scope="session", autouse=True)
def _session_api_answers() -> None:
    """Before a process's first test: the Prefect server PREFECT_API_URL names answers (the session's own starts
    with a fresh database, ~10 s of migrations, while the test files are collected)."""
    api_url, deadline = os.environ["PREFECT_API_URL"], time.monotonic() + SESSION_API_START_S
    while not api_answers(api_url):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the tests' Prefect server did not answer on {api_url} in {SESSION_API_START_S} s")
        time.sleep(0.2)


def pytest_unconfigure(config: pytest.Config) -> None:
    if (api := config.stash.get(_SESSION_API, None)) is not None:
        api.close()
    if (home := config.stash.get(_SESSION_HOME, None)) is not None:
        shutil.rmtree(home, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadgroup` as these tests use it: each test file whole on one worker (its module fixtures made once),
    and the files of one `xdist_group` together on one (the session fixture they share made once)."""
    from xdist.scheduler import LoadGroupScheduling  # noqa: PLC0415 (only where xdist runs)

    class FileOrGroupScheduling(LoadGroupScheduling):
        ordered = False

        def _split_scope(self, nodeid: str) -> str:
            group = super()._split_scope(nodeid)
            return group if group != nodeid else nodeid.split("::", 1)[0]

        def _assign_work_unit(self, node) -> None:
            if not self.ordered:
                self.workqueue = _default_run_made_first(self.workqueue, config.rootpath)
                self.ordered = True
            super()._assign_work_unit(node)

    return FileOrGroupScheduling(config, log) if config.getvalue("dist") == "loadgroup" else None


DEFAULT_RUN_MAKER = "tests/test_ground_truth.py"
"""A test file whose first test takes the session's default run: scheduled first, so that the run is made at once."""


def _default_run_made_first(workqueue: dict[str, dict[str, bool]], root: Path) -> dict[str, dict[str, bool]]:
    """The work units reordered so that the first worker makes the session's default run (~50 s) from the start
    while the others take the units that do not need it, and the units that wait for it come last; before, a second
    worker could sit ~40 s on the run's lock. A unit needs the run when one of its files names the `default_run` or
    `default_data` fixture."""
    def needs_run(unit: dict[str, bool]) -> bool:
        files = {nodeid.split("::", 1)[0] for nodeid in unit}
        return any(name in (root / file).read_text() for file in files for name in ("default_run", "default_data"))

    waiting = sorted((scope for scope, unit in workqueue.items() if needs_run(unit)),
                     key=lambda scope: scope != DEFAULT_RUN_MAKER)  # stable: otherwise the queue's order
    order = waiting[:1] + [scope for scope in workqueue if scope not in waiting] + waiting[1:]
    return type(workqueue)((scope, workqueue[scope]) for scope in order)


def shared_by_workers(tmp_path_factory: pytest.TempPathFactory, name: str, make: Callable[[Path], T],
                      dump: Callable[[T], dict], load: Callable[[dict], T]) -> T:
    """`make(folder)` once per test session: under xdist the first worker makes it under a file lock in the folder
    all workers share and leaves `dump(result)` there as JSON, the others `load` that."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return make(tmp_path_factory.mktemp(name))
    folder = tmp_path_factory.getbasetemp().parent / name
    made = folder / "made.json"
    with FileLock(f"{folder}.lock"):
        if made.exists():
            return load(json.loads(made.read_text()))
        shutil.rmtree(folder, ignore_errors=True)  # what a worker that failed to make it left
        folder.mkdir()
        result = make(folder)
        made.write_text(json.dumps(dump(result)))
        return result


@pytest.fixture
def without_prefect_api(monkeypatch) -> Iterator[None]:
    """This process as a command sees it where no Prefect server is configured (no PREFECT_API_URL, Prefect's
    settings refreshed to match); the session's server again afterwards."""
    from prefect.context import refresh_global_settings_context  # noqa: PLC0415

    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    refresh_global_settings_context()
    yield
    monkeypatch.undo()
    refresh_global_settings_context()


@dataclass(frozen=True)
class CurateRun:
    data_root: Path
    output: Path
    returncode: int
    stdout: str
    stderr: str


def run_curate(data_root: Path, output: Path, *extra: str, env: dict | None = None) -> CurateRun:
    """The real command line, in a fresh process (a local Ray inside; its flow reports to the session's Prefect
    server, PREFECT_API_URL, or to a temporary one of its own where that is unset)."""
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "curate", "--data-root", str(data_root),
                           "--output", str(output), "--num-cpus", "2", *extra],
                          cwd=REPO, capture_output=True, text=True, timeout=900, env={**os.environ, **(env or {})})
    return CurateRun(data_root, output, proc.returncode, proc.stdout, proc.stderr)


def _curate_default(folder: Path) -> CurateRun:
    (data_root := folder / "data").mkdir()
    run = run_curate(data_root, folder / "output")
    assert run.returncode == 0, f"curate failed ({run.returncode}):\n{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    return run


def _curate_run_from(saved: dict) -> CurateRun:
    return CurateRun(**{**saved, "data_root": Path(saved["data_root"]), "output": Path(saved["output"])})


@pytest.fixture(scope="session")
def default_run(tmp_path_factory) -> CurateRun:
    """The main job as a user runs it: an empty data root, so the flow renders the default set first."""
    return shared_by_workers(tmp_path_factory, "default-run", _curate_default,
                             lambda run: {**asdict(run), "data_root": str(run.data_root), "output": str(run.output)},
                             _curate_run_from)


@pytest.fixture(scope="session")
def default_data(default_run) -> Path:
    """The rendered default set (2 scenes per tier, exact ground truth beside each video)."""
    return default_run.data_root


@pytest.fixture(scope="session")
def tiny_depth_anything(tmp_path_factory) -> dict[str, Path]:
    """Random-init tiny Depth Anything models saved like real weights: {"metric": dir, "relative": dir}."""
    def build(root: Path) -> dict[str, Path]:
        from tests.tiny_models import build_depth_anything  # noqa: PLC0415 (imports torch/transformers)

        return {kind: build_depth_anything(root / kind, kind=kind, seed=seed)
                for seed, kind in enumerate(("metric", "relative"))}

    return shared_by_workers(tmp_path_factory, "depth-anything", build,
                             lambda models: {kind: str(path) for kind, path in models.items()},
                             lambda saved: {kind: Path(path) for kind, path in saved.items()})


from tests.prefect_server import prefect_server  # noqa: E402,F401 (one loopback Prefect server for the session)
