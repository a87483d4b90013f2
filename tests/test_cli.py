"""The `spacevista` command line: querying the catalog, and its usage errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from flows.cli import EXIT_USAGE, main
from tests.conftest import REPO


def _sql(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "flows.cli", "sql", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.e2e
def test_sql_binds_parameters_and_prints_json(default_run):
    proc = _sql("SELECT scale, count(*) AS n FROM qa WHERE scale = ? GROUP BY 1", "--param", "drone",
                "--output", str(default_run.output), "--format", "json")
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["scale"] == "drone" and row["n"] > 0


@pytest.mark.e2e
def test_sql_table_output_and_a_bad_query(default_run):
    proc = _sql("SELECT task_type FROM qa LIMIT 2", "--output", str(default_run.output))
    assert proc.returncode == 0 and "task_type" in proc.stdout and "(2 rows)" in proc.stdout
    bad = _sql("SELECT nothing FROM qa", "--output", str(default_run.output))
    assert bad.returncode == EXIT_USAGE and "nothing" in bad.stderr


def test_sql_without_a_catalog_says_what_to_run(tmp_path, capsys):
    assert main(["sql", "SELECT 1", "--output", str(tmp_path)]) == EXIT_USAGE
    assert "run `spacevista curate` first" in capsys.readouterr().err


def test_invalid_curate_configuration_is_a_usage_error(tmp_path, capsys):
    assert main(["curate", "--data-root", str(tmp_path), "--shard-size", "0"]) == EXIT_USAGE
    assert "shard_size" in capsys.readouterr().err
