"""prefect.yaml: every deployment's entrypoint and parameters fit its flow, and the deployments go through a real
Prefect server on loopback (process work pool, `prefect deploy`, a worker) where the export one runs to COMPLETED."""

from __future__ import annotations

import importlib
import inspect
import json
from pathlib import Path
from typing import get_type_hints

import pytest
from prefect import Flow
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId, FlowRunFilter, FlowRunFilterId
from prefect.client.schemas.objects import StateType
from pydantic import TypeAdapter

from flows.curate import resolved
from pipeline.shard import Shard, shard_fingerprint
from schemas.config import CurateConfig
from schemas.export import ExportConfig, TierBalance
from tests.prefect_server import DEPLOYMENTS, ON_ONE_WORKER, POOL
from tests.test_no_network import _is_loopback

pytestmark = ON_ONE_WORKER


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


def test_a_deployment_run_and_the_cli_reuse_each_others_shards(tmp_path, monkeypatch):
    """The deployment names its data root relative to the checkout, the CLI absolute (here through a symlink):
    the flow resolves both to the same path, so a shard's fingerprint, and its reuse, is the same either way."""
    (tmp_path / "data").mkdir()
    (tmp_path / "via-link").symlink_to(tmp_path / "data")
    monkeypatch.chdir(tmp_path)
    deployed = CurateConfig(data_root=Path("data"), output_root=Path("output"))
    from_cli = CurateConfig(data_root=tmp_path / "via-link", output_root=tmp_path / "output")
    shard = Shard(shard_id="s", items=())
    assert shard_fingerprint(shard, deployed) != shard_fingerprint(shard, from_cli)  # as each was given
    assert resolved(deployed) == resolved(from_cli)
    assert shard_fingerprint(shard, resolved(deployed)) == shard_fingerprint(shard, resolved(from_cli))


@pytest.mark.e2e
def test_export_deployment_runs_through_a_prefect_server(prefect_server, default_run, tmp_path):
    server = prefect_server
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
