"""A real Prefect server on loopback for the tests, shared by the session: its own home and SQLite database, the
process work pool created and every deployment of prefect.yaml deployed; every Python process it and the CLI,
worker and flow runs start is audited by tests/netguard into `netlog`."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from runtime.prefect_api import api_answers
from tests.conftest import REPO, free_port

PREFECT = Path(sys.executable).with_name("prefect")
PROJECT = yaml.safe_load((REPO / "prefect.yaml").read_text())
DEPLOYMENTS = {d["name"]: d for d in PROJECT["deployments"]}
POOL = PROJECT["definitions"]["work_pools"]["process"]["name"]
SERVER_START_S = 120
ON_ONE_WORKER = pytest.mark.xdist_group("prefect_server")
"""The mark of every test file that uses `prefect_server`: under xdist they run on one worker, which starts it once."""


@dataclass(frozen=True)
class PrefectServer:
    api_url: str
    env: dict[str, str]
    netlog: Path

    def run(self, *args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
        """A `prefect` command against this server."""
        return subprocess.run([str(PREFECT), "--no-prompt", *args], cwd=cwd, env=self.env, capture_output=True,
                              text=True, timeout=180)

    def cli(self, *args: str, cwd: Path = REPO) -> str:
        """A `prefect` command that must succeed; its output."""
        proc = self.run(*args, cwd=cwd)
        assert proc.returncode == 0, f"prefect {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        return proc.stdout

    def python(self, script: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
        """A Python script run from the checkout against this server (a flow run in it reports here)."""
        return subprocess.run([sys.executable, "-c", script, *args], cwd=REPO, env=self.env, capture_output=True,
                              text=True, timeout=timeout)


def _wait_healthy(api_url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        assert server.poll() is None, f"prefect server exited ({server.returncode}):\n{log.read_text()[-3000:]}"
        if api_answers(api_url):
            return
        time.sleep(0.5)
    raise AssertionError(f"prefect server not healthy after {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory) -> Iterator[PrefectServer]:
    """`prefect server start` on 127.0.0.1, with the work pool and every deployment of prefect.yaml (their
    schedules and triggers) in place; no worker runs unless a test starts one."""
    home = tmp_path_factory.mktemp("prefect-server")
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    netlog = home / "net.jsonl"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home / "prefect-home"),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{home / 'prefect.db'}",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        # The server looks work-pool types up on GitHub; a closed loopback proxy makes it use the copy Prefect ships.
        "HTTPS_PROXY": "http://127.0.0.1:9",
        "NO_PROXY": "127.0.0.1,localhost",
        "SPACEVISTA_HOME": str(REPO),
        "SPACEVISTA_NETLOG": str(netlog),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO / "tests" / "netguard"), os.environ.get("PYTHONPATH")])),
    }
    log = home / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen([str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                  cwd=home, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(api_url, server, log)
        running = PrefectServer(api_url, env, netlog)
        running.cli("work-pool", "create", POOL, "--type", "process")
        running.cli("deploy", "--all")
        yield running
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
