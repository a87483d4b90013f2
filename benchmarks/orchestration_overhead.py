"""Orchestration overhead of `spacevista curate`, and the fixed start-up of every command.

On the same rendered default-like videos (10, and 50: seeds 0-9 of every tier; the 10 are the first two seeds,
hard-linked), each size is curated twice into fresh output roots:

    flow    `spacevista curate --num-cpus W` (a CLI subprocess: Prefect flow, Ray tasks, per-shard task runs)
    plain   a subprocess running a concurrent.futures.ProcessPoolExecutor of W workers over the same shards
            (pipeline.shard.curate_shard), committing each result as the flow does (pipeline.commit) and
            refreshing the catalog at the end

and the ratio flow / plain is printed. Then the wall time of each command on the 10-video output: `--help`,
`sql`, `report`, `benchmark`, `export`, and `curate` with nothing left to do (every shard reused). Commands run
without PREFECT_API_URL unless the caller sets it: each flow command starts Prefect's temporary server, and curate
a local Ray.

With `--running-services`, everything is measured a second time as a deployment at scale runs it: against a
Prefect server and a Ray head (W CPUs) started once beforehand on loopback, by PREFECT_API_URL and `--ray-address`.

    .venv/bin/python -m benchmarks.orchestration_overhead [--work DIR] [--sizes 10 50] [--workers 2]
        [--running-services]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path

import psutil

from flows.ray_runtime import OBJECT_STORE_BYTES, quiet_ray_home
from runtime.offline import QUIET_ENVIRONMENT
from runtime.prefect_api import api_answers, free_port

VIDEOS_PER_SEED = 5
"""The default set renders one scene of every tier per seed."""


def render(work: Path, sizes: list[int]) -> dict[int, Path]:
    """A data root per size, the smaller ones hard-linked from the largest (complete scenes are kept between runs)."""
    from sources.synthetic import generate_default_dataset  # noqa: PLC0415

    largest = work / f"data-{max(sizes)}"
    roots = {}
    for size in sorted(sizes, reverse=True):
        root = work / f"data-{size}"
        scenes = generate_default_dataset(largest, scenes_per_tier=size // VIDEOS_PER_SEED)
        if root != largest:
            shutil.rmtree(root, ignore_errors=True)
            for scene in scenes:
                shutil.copytree(scene, root / scene.name, copy_function=os.link)
        roots[size] = root
    return roots


def plain_pool(data_root: Path, output_root: Path, workers: int) -> None:
    """The baseline: every shard through curate_shard in a process pool, committed as it completes."""
    from pipeline.commit import commit_result  # noqa: PLC0415
    from pipeline.shard import curate_shard, plan_shards, shard_fingerprint  # noqa: PLC0415
    from schemas.config import CurateConfig  # noqa: PLC0415
    from sources.registry import discover  # noqa: PLC0415
    from storage.catalog import refresh_catalog  # noqa: PLC0415
    from storage.layout import OutputLayout  # noqa: PLC0415

    config = CurateConfig(data_root=data_root.resolve(), output_root=output_root.resolve(),
                          generate_default_data=False)
    layout, run_id = OutputLayout(config.output_root), f"plain-{uuid.uuid4().hex[:6]}"
    with ProcessPoolExecutor(workers) as pool:
        futures = {pool.submit(curate_shard, shard, config, run_id): shard
                   for shard in plan_shards(discover(config.data_root), config.shard_size, config.data_root)}
        for future in as_completed(futures):
            shard = futures[future]
            commit_result(layout, future.result(), shard_fingerprint(shard, config), run_id, stale=False)
    refresh_catalog(layout)


SERVICE_START_S = 120


@contextmanager
def running_services(work: Path, workers: int) -> Iterator[tuple[dict[str, str], str]]:
    """A Prefect server and a one-node Ray head on loopback, quiet as the CLI's own (runtime/offline.py), started
    once and stopped at the end; (the environment that points commands at the server, the Ray address)."""
    home = work / "services"
    shutil.rmtree(home, ignore_errors=True)
    ray_home = quiet_ray_home(home / "ray-home")
    ports = [free_port() for _ in range(2)]
    api_url, address = f"http://127.0.0.1:{ports[0]}/api", f"127.0.0.1:{ports[1]}"
    quiet = {**os.environ, **QUIET_ENVIRONMENT, "PREFECT_HOME": str(home / "prefect"), "PREFECT_UI_ENABLED": "false"}
    bin_dir = Path(sys.executable).parent
    log = (home / "services.log").open("w")
    processes = [
        subprocess.Popen([str(bin_dir / "prefect"), "server", "start", "--host", "127.0.0.1", "--port",
                          str(ports[0])], env=quiet, stdout=log, stderr=subprocess.STDOUT),
        subprocess.Popen([str(bin_dir / "ray"), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
                          f"--port={ports[1]}", f"--num-cpus={workers}", "--num-gpus=0", "--include-dashboard=false",
                          "--disable-usage-stats", f"--object-store-memory={OBJECT_STORE_BYTES}"],
                         env={**quiet, "HOME": str(ray_home)}, stdout=log, stderr=subprocess.STDOUT)]
    try:
        deadline = time.monotonic() + SERVICE_START_S
        ray_status = [str(bin_dir / "ray"), "status", f"--address={address}"]
        while not (api_answers(api_url) and subprocess.run(ray_status, env=quiet,
                                                                    capture_output=True).returncode == 0):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError(f"the Prefect server or the Ray head did not start; see {log.name}")
            time.sleep(1)
        yield {**os.environ, "PREFECT_API_URL": api_url}, address
    finally:
        tree = [member for p in processes for member in _tree(p.pid)]
        for member in tree:
            member.kill()
        psutil.wait_procs(tree, timeout=30)
        log.close()


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int]:
    """(wall seconds, exit code) of a command run from the checkout; its output is shown only when it fails."""
    start = time.perf_counter()
    proc = subprocess.run(command, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 3):
        print(f"  ! {' '.join(command[2:])} exited {proc.returncode}:\n{proc.stdout[-1500:]}{proc.stderr[-1500:]}")
    return wall, proc.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, default=None, help="scratch directory (rendered scenes are kept)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 50], help="videos (multiples of 5)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="Ray CPUs and pool processes")
    parser.add_argument("--skip-commands", action="store_true", help="only the flow / plain ratios")
    parser.add_argument("--running-services", action="store_true",
                        help="measure again against a Prefect server and a Ray head started beforehand")
    parser.add_argument("--plain", type=Path, nargs=2, metavar=("DATA", "OUTPUT"), default=None,
                        help="run only the plain pool (the baseline's subprocess)")
    args = parser.parse_args()
    if args.plain:
        plain_pool(*args.plain, args.workers)
        return
    work = (args.work or Path(tempfile.mkdtemp(prefix="spacevista-overhead-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    roots = render(work, args.sizes)
    print(f"rendered {', '.join(str(s) for s in sorted(roots))} videos in {time.perf_counter() - start:.1f} s "
          f"(kept in {work})")
    measure(work, roots, args, os.environ.copy(), ray_address=None)
    if args.running_services:
        with running_services(work, args.workers) as (env, address):
            print(f"\nwith a running Prefect server and Ray head ({address})")
            measure(work, roots, args, env, ray_address=address)


def measure(work: Path, roots: dict[int, Path], args: argparse.Namespace, env: dict[str, str],
            ray_address: str | None) -> None:
    """The flow / plain table, then the commands' wall times; curate joins `ray_address` when given."""
    cli = [sys.executable, "-m", "flows.cli"]
    ray = ["--ray-address", ray_address] if ray_address else ["--num-cpus", str(args.workers)]
    print(f"\n{'videos':>6} {'flow s':>8} {'plain s':>8} {'ratio':>6}   (workers {args.workers}, load "
          f"{os.getloadavg()[0]:.2f})")
    for size in sorted(roots):
        outputs = {kind: work / f"out-{kind}-{size}" for kind in ("flow", "plain")}
        for out in outputs.values():
            shutil.rmtree(out, ignore_errors=True)
        flow, code = timed([*cli, "curate", "--data-root", str(roots[size]), "--output", str(outputs["flow"]),
                            "--no-default-data", *ray], env)
        plain, _ = timed([sys.executable, "-m", "benchmarks.orchestration_overhead", "--plain", str(roots[size]),
                          str(outputs["plain"]), "--workers", str(args.workers)])
        print(f"{size:>6} {flow:8.1f} {plain:8.1f} {flow / plain:6.2f}   (curate exit {code})")
    if args.skip_commands:
        return
    size = min(roots)
    out = work / f"out-commands-{size}"
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(work / f"out-flow-{size}", out)
    commands = {
        "--help": ["--help"],
        "sql": ["sql", "SELECT count(*) FROM qa", "--output", str(out)],
        "report": ["report", "--output", str(out), "--out", str(work / "report.html")],
        "benchmark": ["benchmark", "--data-root", str(roots[size]), "--output", str(out)],
        "export": ["export", "--output", str(out), "--export-dir", str(work / "export")],
        "curate (all reused)": ["curate", "--data-root", str(roots[size]), "--output", str(out), "--no-default-data",
                                *ray],
    }
    print(f"\n{'command':<22} {'wall s':>7}   (on the {size}-video output, load {os.getloadavg()[0]:.2f}, "
          f"PREFECT_API_URL {env.get('PREFECT_API_URL', 'unset')})")
    for name, command in commands.items():
        shutil.rmtree(work / "export", ignore_errors=True)
        wall, code = timed([*cli, *command], env)
        print(f"{name:<22} {wall:7.1f}   exit {code}")

if __name__ == "__main__":
    main()
