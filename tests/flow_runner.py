"""Run a Prefect flow the way a deployment does: in a fresh Python process, config in, report out as JSON."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

R = TypeVar("R", bound=BaseModel)

REPO = Path(__file__).resolve().parents[1]
_SCRIPT = """
import importlib, sys
from pathlib import Path
module, flow_name, config_type, config_json, report_path = sys.argv[1:]
config_module, config_class = config_type.rsplit(".", 1)
config = getattr(importlib.import_module(config_module), config_class).model_validate_json(config_json)
report = getattr(importlib.import_module(module), flow_name)(config)
Path(report_path).write_text(report.model_dump_json())
"""


def run_flow(module: str, flow: str, config: BaseModel, report_type: type[R], workdir: Path) -> R:
    """`module.flow(config)` in a subprocess; its report, parsed as `report_type`."""
    report_path = workdir / f"{flow}-report.json"
    config_type = f"{type(config).__module__}.{type(config).__name__}"
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, module, flow, config_type, config.model_dump_json(),
                           str(report_path)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"{module}.{flow} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return report_type.model_validate_json(report_path.read_text())
