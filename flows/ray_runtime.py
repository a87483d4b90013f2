"""Start (or join) Ray quietly: local by default on 127.0.0.1 with a capped object store, or an existing cluster."""

from __future__ import annotations

import importlib
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from runtime.offline import quiet_environment

OBJECT_STORE_BYTES = 512 * 1024**2
WORKER_MODULES = ("pipeline.shard",)
"""What a Ray worker imports to curate a shard: a local Ray's workers import it while the run is starting."""
_BOOTSTRAP = "provider:\n  type: local\n"


@contextmanager
def ray_session(address: str | None, num_cpus: int | None, warm: tuple[str, ...] = ()) -> Iterator[None]:
    """A Ray session for the duration of a run; a local one is shut down afterwards, a cluster is left alone. A
    local one's workers import the `warm` modules as soon as they start, while the run is still getting ready,
    instead of in their first task."""
    quiet_environment()
    import ray  # noqa: PLC0415 (must follow quiet_environment)

    if ray.is_initialized():
        yield
        return
    if address:
        ray.init(address=address, logging_level="WARNING")
        try:
            yield
        finally:
            ray.shutdown()
        return
    # Ray's processes keep the quiet HOME (no 169.254.169.254 probe); the driver gets its own back once Ray is up.
    with tempfile.TemporaryDirectory(prefix="spacevista-ray-home-") as ray_home:
        quiet_ray_home(Path(ray_home))
        home = os.environ.get("HOME")
        os.environ["HOME"] = ray_home
        try:
            # address="local": a new instance even when a `ray start` cluster runs on this machine (joined otherwise)
            ray.init(address="local", num_cpus=num_cpus, include_dashboard=False,
                     object_store_memory=OBJECT_STORE_BYTES, logging_level="WARNING", _node_ip_address="127.0.0.1")
        finally:
            _restore("HOME", home)
        if warm:
            _warm_workers(warm)
        try:
            yield
        finally:
            _stop_autoscaler_monitor()
            ray.shutdown()


def quiet_ray_home(directory: Path) -> Path:
    """`directory` made a HOME for Ray's processes (a local Ray here, or a `ray start` head) in which Ray skips its
    cloud-metadata probe: it holds a local-provider bootstrap file (ENVIRONMENT.md)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ray_bootstrap_config.yaml").write_text(_BOOTSTRAP)
    return directory


def _warm_workers(modules: tuple[str, ...]) -> None:
    """One task per CPU that imports `modules`, not waited for: the run's first tasks queue behind them."""
    import ray  # noqa: PLC0415

    importer = ray.remote(num_cpus=1)(_import_modules)
    for _ in range(int(ray.cluster_resources().get("CPU", 1))):
        importer.remote(modules)


def _import_modules(modules: tuple[str, ...]) -> None:
    for module in modules:
        importlib.import_module(module)


def _stop_autoscaler_monitor() -> None:
    """Kill the local node's autoscaler monitor ahead of `ray.shutdown`, which stops the GCS first: on SIGTERM the
    monitor reports its end to that GCS and hangs until Ray kills it a second later (1.0 of shutdown's 1.35 s,
    measured). A fixed local node gives it nothing to scale or clean up."""
    from ray._private import ray_constants, worker  # noqa: PLC0415 (no public handle on the node's processes)

    node = worker._global_node
    for info in node.all_processes.get(ray_constants.PROCESS_TYPE_MONITOR, []) if node is not None else []:
        info.process.kill()
        info.process.wait()


def _restore(key: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(key, None)
    else:
        os.environ[key] = value
