"""The Prefect API a command's flow reports to: the server Prefect is configured with (PREFECT_API_URL, or a
profile), else a temporary server on loopback that the command starts first thing, so that its start-up overlaps
the command's own (imports, preflight, Ray) instead of preceding the flow. Commands that run no flow start none.

It is the server Prefect would start itself (prefect.server.api.server.SubprocessASGIServer: the same app, database
and switches), launched without importing the server's code into the command's process.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from runtime.offline import quiet_environment

EPHEMERAL_SWITCHES = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
"""What Prefect sets for its own temporary server: no UI, the ephemeral set of services."""

DRAIN_TIMEOUT_S = 30
"""How long the logs and events a run leaves queued may take to reach the temporary server before it stops."""

PORT_IN_USE = 3
"""uvicorn's exit status when its port was taken meanwhile; the server is launched again on another."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (for a server about to be started)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def api_answers(api_url: str) -> bool:
    """Whether the Prefect API at `api_url` answers its health check now (no proxy: it is on loopback)."""
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with no_proxy.open(f"{api_url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:  # urllib.error.URLError is one
        return False


class TemporaryApi:
    """A temporary Prefect server launched in the background; `use()` points Prefect at it once Prefect is
    imported, `close()` stops it. With PREFECT_API_URL set it launches nothing and `use()` leaves Prefect as it is."""

    def __init__(self) -> None:
        quiet_environment()
        self.process: subprocess.Popen | None = None
        self.port = 0
        self.pointed: list[str] = []  # the variables use() set
        if not os.environ.get("PREFECT_API_URL"):
            self._launch()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    def _launch(self) -> None:
        self.port = free_port()
        app_dir = Path(importlib.util.find_spec("prefect").origin).parent.parent  # without importing prefect
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--app-dir", str(app_dir), "--factory",
             "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(self.port),
             "--log-level", "error", "--lifespan", "on"],
            env={**os.environ, **EPHEMERAL_SWITCHES})

    def use(self) -> None:
        """Wait until the temporary server answers and make it Prefect's API for this process, unless Prefect's
        settings name a server (a profile) or forbid a temporary one: then it is stopped and Prefect decides."""
        if self.process is None or self.pointed:
            return
        from prefect.context import refresh_global_settings_context  # noqa: PLC0415
        from prefect.settings import get_current_settings  # noqa: PLC0415

        settings = get_current_settings()
        if settings.api.url or not settings.server.ephemeral.enabled:
            self.close()
            return
        self._wait_healthy(settings.server.ephemeral.startup_timeout_seconds)
        # no "View at" link: the temporary server has no UI and stops with the command
        for key, value in {"PREFECT_API_URL": self.api_url, "PREFECT_UI_URL": ""}.items():
            if key not in os.environ:
                os.environ[key] = value
                self.pointed.append(key)
        refresh_global_settings_context()

    def _wait_healthy(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() == PORT_IN_USE:
                self._launch()
            elif self.process.poll() is not None:
                raise RuntimeError(f"the temporary Prefect server exited with status {self.process.returncode}")
            if api_answers(self.api_url):
                return
            time.sleep(0.1)
        raise RuntimeError(f"the temporary Prefect server did not answer on {self.api_url} within {timeout_s:.0f} s")

    def close(self) -> None:
        """Stop the temporary server, and give Prefect back the settings it had before `use()`."""
        if self.pointed:
            from prefect.context import refresh_global_settings_context  # noqa: PLC0415
            from prefect.events.worker import EventsWorker  # noqa: PLC0415
            from prefect.logging.handlers import APILogWorker  # noqa: PLC0415

            for service in (APILogWorker, EventsWorker):  # what the flow's run still has to send goes first
                service.drain_all(timeout=DRAIN_TIMEOUT_S, at_exit=False)
            for key in self.pointed:
                os.environ.pop(key, None)
            refresh_global_settings_context()
            self.pointed = []
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def __enter__(self) -> TemporaryApi:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
