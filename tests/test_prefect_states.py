"""What a curate run tells a real Prefect server (loopback): its final state says full success, partial success or
total failure; each shard is a task run with its own logs; a progress artifact reaches 100 %; failed videos are a
table artifact; and the `train` deployment's trigger fires only for a run with QA while a base model is configured."""

from __future__ import annotations

import json
import time
from uuid import UUID

import httpx
import pytest
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterId,
    FlowRunFilter,
    FlowRunFilterId,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import StateType

from schemas.tiers import ScaleTier
from sources.synthetic import RenderSettings, generate_scene
from tests.prefect_server import ON_ONE_WORKER

pytestmark = [pytest.mark.e2e, ON_ONE_WORKER]

_RUNS = """
import json, shutil, sys
from pathlib import Path
from prefect.variables import Variable
from flows.curate import BASE_MODEL_VARIABLE, curate
from flows.ray_runtime import ray_session
from schemas.config import CurateConfig

mixed, all_bad, out, bad_out, base_model = map(Path, sys.argv[1:])

def run(data_root, output_root):
    config = CurateConfig(data_root=data_root, output_root=output_root, shard_size=1, ray_num_cpus=2,
                          generate_default_data=False)
    return str(curate(config, return_state=True).state_details.flow_run_id)

with ray_session(None, 2):                             # one local Ray for the three runs (each joins it)
    ids = {"partial": run(mixed, out)}                # one good scene, one empty video; no base model configured
    shutil.rmtree(mixed / "plain")
    Variable.set(BASE_MODEL_VARIABLE, str(base_model), overwrite=True)
    ids["completed"] = run(mixed, out)                # the good scene alone (its shard reused); base model set
    ids["failed"] = run(all_bad, bad_out)             # nothing but the empty video
    Variable.unset(BASE_MODEL_VARIABLE)
print(json.dumps(ids))
"""


@pytest.fixture(scope="module")
def curate_runs(prefect_server, tmp_path_factory):
    """Three curate runs reported to the loopback server: partial, complete, failed; their flow run ids."""
    root = tmp_path_factory.mktemp("prefect-states")
    mixed, all_bad = root / "mixed", root / "all-bad"
    generate_scene(ScaleTier.TABLETOP, 21, mixed / "tabletop-a", settings=RenderSettings(num_frames=8))
    for data in (mixed, all_bad):
        (data / "plain").mkdir(parents=True)
        (data / "plain" / "empty.mp4").write_bytes(b"")
    proc = prefect_server.python(_RUNS, str(mixed), str(all_bad), str(root / "out"), str(root / "bad-out"),
                                 str(root / "base-vlm"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ids = {name: UUID(run_id) for name, run_id in json.loads(proc.stdout.strip().splitlines()[-1]).items()}
    return ids, root


def _run_filter(run_id: UUID) -> FlowRunFilter:
    return FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))


def test_final_state_tells_full_partial_and_total_failure(prefect_server, curate_runs):
    ids, _ = curate_runs
    with SyncPrefectClient(prefect_server.api_url) as client:
        states = {name: client.read_flow_run(run_id).state for name, run_id in ids.items()}
    assert (states["completed"].type, states["completed"].name) == (StateType.COMPLETED, "Completed")
    assert (states["partial"].type, states["partial"].name) == (StateType.COMPLETED, "Partial")
    assert "1 of 2 videos curated" in states["partial"].message
    assert states["failed"].type == StateType.FAILED and "0 of 1 videos curated" in states["failed"].message


def test_shards_are_task_runs_with_logs_progress_and_a_failures_table(prefect_server, curate_runs):
    ids, _ = curate_runs
    with SyncPrefectClient(prefect_server.api_url) as client:
        shards = {run.name: run.state.type for run in client.read_task_runs(flow_run_filter=_run_filter(ids["partial"]))
                  if run.name.startswith("shard ")}
        logs = [log.message for log in client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(
            any_=[ids["partial"]])))]
        artifacts = {name: {a.key: a for a in client.read_artifacts(flow_run_filter=_run_filter(run_id))}
                     for name, run_id in ids.items()}
    assert sorted(shards.values()) == sorted([StateType.COMPLETED, StateType.FAILED]), shards
    assert any(m.startswith("FAILED plain/empty.mp4 [probe]") for m in logs), logs
    assert any(m.startswith("shard ") and "1 videos, 1 scenes" in m for m in logs), logs
    for name in ids:
        assert artifacts[name]["curate-progress"].data == 100.0, (name, artifacts[name]["curate-progress"])
    failed = {name: [row["uri"] for row in json.loads(artifacts[name]["curate-failures"].data)] for name in ids}
    assert failed == {"partial": ["plain/empty.mp4"], "completed": [], "failed": ["plain/empty.mp4"]}


def test_train_trigger_fires_only_with_a_base_model_configured(prefect_server, curate_runs):
    """Both QA-producing runs announced their QA; only the one made while the variable named a base model carries
    the label the trigger requires, so exactly one train run is created, with that model and output root."""
    _, root = curate_runs
    events = httpx.post(f"{prefect_server.api_url}/events/filter", timeout=30,
                        json={"filter": {"event": {"name": ["spacevista.qa.curated"]}}, "limit": 10}).json()
    assert len(events["events"]) == 2, events
    with SyncPrefectClient(prefect_server.api_url) as client:
        train = client.read_deployment_by_name("train/train")
        deadline = time.monotonic() + 60
        while not (runs := client.read_flow_runs(deployment_filter=DeploymentFilter(
                id=DeploymentFilterId(any_=[train.id])))) and time.monotonic() < deadline:
            time.sleep(1)
        for run in runs:  # nothing is to execute them: a later worker must not pick them up
            client.delete_flow_run(run.id)
    assert len(runs) == 1, runs
    assert runs[0].parameters["config"]["base_model"] == str(root / "base-vlm")
    assert runs[0].parameters["config"]["output_root"] == str((root / "out").resolve())
