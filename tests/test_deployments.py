"""prefect.yaml: every deployment's entrypoint and parameters fit its flow, and the deployments go through a real
Prefect server on loopback (process work pool, `prefect deploy`, a worker) where the export one runs to COMPLETED."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import get_type_hints

import httpx
import pytest
import yaml
from prefect import Flow
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import StateType
from pydantic import TypeAdapter

from schemas.export import ExportConfig, TierBalance
from tests.conftest import REPO, free_port
from tests.test_no_network import _is_loopback

PREFECT = Path(sys.executable).with_name("prefect")
PROJECT = yaml.safe_load((REPO / "prefect.yaml").read_text())
DEPLOYMENTS = {d["name"]: d for d in PROJECT["deployments"]}
POOL = PROJECT["definitions"]["work_pools"]["process"]["name"]
SERVER_START_S = 120


def _flow(entrypoint: str) -> Flow:
    path, name = entrypoint.split(":")
    return getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)


def test_deployments_cover_the_flows_on_one_process_pool():
    assert {_flow(d["entrypoint"]).name for d in DEPLOYMENTS.values()} == {"curate", "export", "evaluate", "train"}
    assert {d["work_pool"]["name"] for d in DEPLOYMENTS.values()} == {POOL}
    assert all(d["description"].strip() for d in DEPLOYMENTS.values())
    assert DEPLOYMENTS["curate-nightly"]["schedules"] == [{"cron": "0 2 * * *", "timezone": "UTC"}]


@pytest.mark.parametrize("name", DEPLOYMENTS)
def test_deployment_parameters_validate_against_its_flow(name):
    """Each parameter set holds every required argument of the flow, nothing else, each valid for its type."""
    deployment = DEPLOYMENTS[name]
    flow = _flow(deployment["entrypoint"])
    assert isinstance(flow, Flow), f"{deployment['entrypoint']} is not a Prefect flow"
    signature = inspect.signature(flow.fn)
    required = {p.name for p in signature.parameters.values() if p.default is inspect.Parameter.empty}
    parameters = deployment["parameters"]
    assert required <= parameters.keys() <= signature.parameters.keys(), (name, sorted(parameters))
    hints = get_type_hints(flow.fn)
    for argument, value in parameters.items():
        TypeAdapter(hints[argument]).validate_python(value)


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


def _wait_healthy(api_url: str, server: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while time.monotonic() < deadline:
        assert server.poll() is None, f"prefect server exited ({server.returncode}):\n{log.read_text()[-3000:]}"
        try:
            if httpx.get(f"{api_url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"prefect server not healthy after {SERVER_START_S} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def prefect_server(tmp_path) -> Iterator[PrefectServer]:
    """`prefect server start` on 127.0.0.1 with its own home and SQLite database; every Python process it and the
    CLI, worker and flow run start is audited by tests/netguard into `netlog`."""
    port = free_port()
    api_url = f"http://127.0.0.1:{port}/api"
    netlog = tmp_path / "net.jsonl"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_DATABASE_CONNECTION_URL": f"sqlite+aiosqlite:///{tmp_path / 'prefect.db'}",
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
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen([str(PREFECT), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                                  cwd=tmp_path, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(api_url, server, log)
        yield PrefectServer(api_url, env, netlog)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.mark.e2e
def test_export_deployment_runs_through_a_prefect_server(prefect_server, default_run, tmp_path):
    server = prefect_server
    server.cli("work-pool", "create", POOL, "--type", "process")
    server.cli("deploy", "--all")
    with SyncPrefectClient(server.api_url) as client:
        assert {d.name for d in client.read_deployments()} == DEPLOYMENTS.keys()
        nightly = client.read_deployment_by_name("curate/curate-nightly")
        deployment = client.read_deployment_by_name("export/export")
    assert [s.schedule.cron for s in nightly.schedules if s.active] == ["0 2 * * *"]
    assert deployment.work_pool_name == POOL

    refused = server.run("deployment", "run", "export/export", "--param", 'config={"output_root": "out"}')
    assert refused.returncode != 0 and "export_dir" in refused.stdout + refused.stderr, refused

    export_dir = tmp_path / "export"
    config = ExportConfig(output_root=default_run.output, export_dir=export_dir, balance=TierBalance(total=10))
    server.cli("deployment", "run", "export/export", "--param", f"config={config.model_dump_json()}")
    worker_dir = tmp_path / "worker"
    worker_dir.mkdir()
    worker = server.cli("worker", "start", "--pool", POOL, "--run-once", cwd=worker_dir)

    with SyncPrefectClient(server.api_url) as client:
        [run] = client.read_flow_runs(deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])))
        assert run.state.type == StateType.COMPLETED, (run.state, worker[-3000:])
        artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run.id])))
    exported = [json.loads(line) for line in (export_dir / "spacevista.jsonl").read_text().splitlines()]
    assert len(exported) == 10
    assert all((export_dir / frame).is_file() for item in exported for frame in item["videos"][0])
    [table] = [a for a in artifacts if a.key == "export-summary"]
    assert sum(row["exported"] for row in json.loads(table.data)) == 10

    records = [json.loads(line) for line in server.netlog.read_text().splitlines()]
    assert not [r for r in records if not _is_loopback(r["host"])], records
    commands = {" ".join(r["argv"]) for r in records}
    assert any(c.endswith("prefect server") for c in commands), commands
    assert any(c.endswith("prefect/engine.py") for c in commands), f"the flow run was not audited: {commands}"
