"""`spacevista curate` talks to loopback only: every Python process (driver, Prefect's temporary server, Ray's
Python workers) is audited through a sitecustomize hook, and all processes of the run, Ray's C++ daemons
included, are sampled for open inet connections while it runs."""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "", "0.0.0.0", "::"}


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


@pytest.mark.e2e
def test_curate_contacts_only_loopback(default_data, tmp_path):
    netlog = tmp_path / "net.jsonl"
    guard = Path(__file__).parent / "netguard"
    # without the session's Prefect server: the command starts its temporary one, audited like the rest
    env = {**{k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}, "SPACEVISTA_NETLOG": str(netlog),
           "PYTHONPATH": os.pathsep.join([str(guard), os.environ.get("PYTHONPATH", "")])}
    scene = next(p for p in sorted(default_data.iterdir()) if p.name.startswith("tabletop"))
    data = tmp_path / "data"
    data.mkdir()
    shutil.copytree(scene, data / scene.name)  # a symlink out of the data root would be refused, not curated
    proc = subprocess.Popen([sys.executable, "-m", "flows.cli", "curate", "--data-root", str(data), "--output",
                             str(tmp_path / "out"), "--no-default-data", "--num-cpus", "1"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    remote_seen: set[tuple[str, str]] = set()
    processes_sampled: set[str] = set()
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            break
        for p in tree:
            try:
                name = p.name()
                for conn in p.net_connections(kind="inet"):
                    processes_sampled.add(name)
                    if conn.raddr:
                        remote_seen.add((name, conn.raddr.ip))
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        time.sleep(0.2)
    output = proc.communicate()[0]
    assert proc.returncode == 0, output[-3000:]

    records = [json.loads(line) for line in netlog.read_text().splitlines()]
    outside = [r for r in records if not _is_loopback(r["host"])]
    assert not outside, outside[:10]
    assert any("default_worker.py" in " ".join(r["argv"]) for r in records), "no Ray worker was audited"
    assert not [(n, ip) for n, ip in remote_seen if not _is_loopback(ip)], remote_seen
    assert {"gcs_server", "raylet"} & processes_sampled, processes_sampled
