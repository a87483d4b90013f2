"""Keep every component off the network: only loopback, no telemetry, no downloads (ENVIRONMENT.md).

Must run before prefect, ray, transformers or ultralytics are imported: they read these at import time.
"""

from __future__ import annotations

import os

QUIET_ENVIRONMENT = {
    # Ray: node IP 127.0.0.1 (no 8.8.8.8 probe), no usage stats, no auth token lookups.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
    "RAY_AUTH_MODE": "disabled",
    "RAY_DEDUP_LOGS": "0",
    # Prefect: no telemetry; a generous start-up timeout for its temporary local server.
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    "DO_NOT_TRACK": "1",
    # Hugging Face / ultralytics: never reach a hub.
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "YOLO_OFFLINE": "1",
}


def quiet_environment() -> None:
    """Set the offline switches, leaving any value the user set explicitly."""
    for key, value in QUIET_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
