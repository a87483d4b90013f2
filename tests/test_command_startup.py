"""Commands start only what they use: `report` (like `sql`) neither Prefect nor Ray; a flow command the server
PREFECT_API_URL names, or else a temporary server of its own that serves the run and stops with the command."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys

import httpx

from runtime.prefect_api import TemporaryApi
from tests.conftest import REPO
from tests.prefect_server import ON_ONE_WORKER

pytestmark = ON_ONE_WORKER


def test_report_imports_neither_prefect_nor_ray(default_run, tmp_path):
    env = {key: value for key, value in os.environ.items() if key != "PREFECT_API_URL"}
    probe = ("import sys; from flows.cli import main; code = main(['report', '--output', "
             f"{str(default_run.output)!r}, '--out', {str(tmp_path / 'report.html')!r}]); "
             "print(code, sorted({m.split('.')[0] for m in sys.modules} & {'prefect', 'ray', 'torch'}))")
    run = subprocess.run([sys.executable, "-c", probe], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.stdout.splitlines()[-1] == "0 []", run.stderr[-3000:]
    assert (tmp_path / "report.html").stat().st_size > 0


def test_the_temporary_server_serves_a_flow_run_and_stops_with_it(without_prefect_api):
    from prefect import flow  # noqa: PLC0415
    from prefect.client.orchestration import get_client  # noqa: PLC0415

    @flow(name="startup-probe")
    def probe() -> int:
        return 7

    with TemporaryApi() as api:
        api.use()
        assert os.environ["PREFECT_API_URL"] == api.api_url
        state = probe(return_state=True)
        with get_client(sync_client=True) as client:
            stored = client.read_flow_run(state.state_details.flow_run_id)
        assert stored.state.is_completed() and state.result() == 7
        port = api.port
    assert "PREFECT_API_URL" not in os.environ
    with socket.socket() as sock:
        assert sock.connect_ex(("127.0.0.1", port)) != 0, "the temporary server outlived its command"


def test_a_flow_command_reports_to_the_server_prefect_api_url_names(prefect_server, default_run, tmp_path):
    output = shutil.copytree(default_run.output, tmp_path / "output")
    run = subprocess.run([sys.executable, "-m", "flows.cli", "export", "--output", str(output), "--export-dir",
                          str(tmp_path / "export")], cwd=REPO, env=prefect_server.env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    flows = httpx.post(f"{prefect_server.api_url}/flows/filter", json={"flows": {"name": {"any_": ["export"]}}},
                       timeout=30).json()
    runs = httpx.post(f"{prefect_server.api_url}/flow_runs/filter",
                      json={"flows": {"id": {"any_": [f["id"] for f in flows]}}}, timeout=30).json()
    assert any(r["state"]["type"] == "COMPLETED" and str(tmp_path / "export") in json.dumps(r["parameters"])
               for r in runs), runs
