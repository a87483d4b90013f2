"""The habits CI keeps: ruff is clean, and no package imports a layer above its own (shared/DESIGN.md)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAYERS = {
    "schemas": 0, "runtime": 0,
    "storage": 1, "facts": 1, "qa_templates": 1, "sources": 1,
    "specialists": 2,
    "pipeline": 3, "training": 3, "report": 3,
    "flows": 4,
    "benchmarks": 5,
}
"""Each package's layer: a module may import its own layer and the ones below, never one above."""


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names & set(LAYERS)


def test_no_package_imports_a_layer_above_its_own():
    upward = []
    for package, layer in LAYERS.items():
        for path in sorted((REPO / package).rglob("*.py")):
            upward += [f"{path.relative_to(REPO)} imports {name} (layer {LAYERS[name]} > {layer})"
                       for name in sorted(_imports(path)) if LAYERS[name] > layer]
    assert not upward, "\n".join(upward)


def test_ruff_is_clean():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=REPO,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
