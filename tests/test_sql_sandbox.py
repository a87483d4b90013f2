"""`spacevista sql` runs in a sandbox: one read-only SELECT, files under the output root only, no network, no
extensions, no ATTACH, settings locked; each refusal is one line naming the problem, exit 2. The README's queries
still work, and the command does not start (or import) Prefect."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from flows.cli import EXIT_OK, EXIT_USAGE, main
from schemas.arrow import to_arrow
from schemas.runs import FailureRow
from storage.commits import commit_shard, stage_table
from storage.layout import FORMAT_VERSION, OutputLayout
from tests.conftest import REPO
from tests.test_catalog_portable import curated_root


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A curated output root (no test here may change it)."""
    out = tmp_path_factory.mktemp("sandbox") / "out"
    curated_root(out)
    return out


@pytest.fixture(scope="module")
def outside(root) -> Path:
    """A readable Parquet file and a folder beside the output root, outside it."""
    folder = root.parent / "outside"
    folder.mkdir()
    duckdb.sql(f"COPY (SELECT 'secret' AS s) TO '{folder / 'secret.parquet'}' (FORMAT parquet)")
    return folder


def _sql(capsys, root: Path, query: str, *params: str) -> tuple[int, str, str]:
    argv = ["sql", query, "--output", str(root), "--format", "json"]
    for value in params:
        argv += ["--param", value]
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


ATTACKS = {
    "copy out": ("COPY (SELECT * FROM videos) TO '{outside}/stolen.csv'", "COPY statements are not allowed"),
    "copy into root": ("COPY (SELECT * FROM videos) TO '{root}/tables/videos/evil.parquet'",
                       "COPY statements are not allowed"),
    "export": ("EXPORT DATABASE '{root}/dump'", "EXPORT statements are not allowed"),
    "passwd": ("SELECT * FROM read_csv('/etc/passwd', sep = ':')", 'Cannot access file "/etc/passwd"'),
    "outside parquet": ("SELECT * FROM read_parquet('{outside}/secret.parquet')", "secret.parquet"),
    "outside glob": ("SELECT * FROM glob('{outside}/*')", "outside/*"),
    "read_text": ("SELECT content FROM read_text('/etc/hostname')", "/etc/hostname"),
    "dot-dot": ("SELECT * FROM read_parquet('{root}/../outside/secret.parquet')", "secret.parquet"),
    "https": ("SELECT * FROM read_parquet('https://example.com/x.parquet')", "https://example.com/x.parquet"),
    "attach": ("ATTACH '{root}/catalog.duckdb' AS c", "ATTACH statements are not allowed"),
    "attach memory": ("ATTACH ':memory:' AS scratch", "ATTACH statements are not allowed"),
    "detach": ("DETACH memory", "DETACH statements are not allowed"),
    "install": ("INSTALL httpfs", "LOAD statements are not allowed"),
    "load": ("LOAD httpfs", "LOAD statements are not allowed"),
    "relax": ("SET enable_external_access = true", "SET statements are not allowed"),
    "reset": ("RESET allowed_directories", "SET statements are not allowed"),
    "pragma": ("PRAGMA enable_profiling", "PRAGMA statements are not allowed"),
    "write": ("CREATE TABLE t AS SELECT 1", "CREATE statements are not allowed"),
    "drop": ("DROP VIEW videos", "DROP statements are not allowed"),
    "two statements": ("SELECT 1; COPY (SELECT 1) TO '{outside}/x.csv'", "one statement at a time, got 2"),
    "nested copy": ("SELECT * FROM query('COPY (SELECT 1) TO ''{outside}/x.csv''')", "single SELECT"),
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_an_attack_is_refused_in_one_line_and_touches_nothing(capsys, root, outside, attack):
    sql, problem = ATTACKS[attack]
    before = sorted(p.relative_to(root.parent) for p in root.parent.rglob("*"))
    code, out, err = _sql(capsys, root, sql.format(root=root, outside=outside))
    assert (code, out) == (EXIT_USAGE, "")
    assert err.startswith("spacevista sql: ") and err.count("\n") == 1 and problem in err, err
    assert sorted(p.relative_to(root.parent) for p in root.parent.rglob("*")) == before


def test_a_refused_read_names_the_output_root(capsys, root):
    _, _, err = _sql(capsys, root, "SELECT * FROM read_csv('/etc/passwd')")
    assert f"files under the output root {root} only" in err


def test_the_catalog_views_files_under_the_root_and_settings_stay_readable(capsys, root):
    code, out, _ = _sql(capsys, root, "SELECT count(*) AS n FROM read_parquet(?)",
                        str(next((root / "tables" / "videos").glob("part-*.parquet"))))
    assert (code, json.loads(out)) == (EXIT_OK, [{"n": 3}])
    code, out, _ = _sql(capsys, root, "SELECT current_setting('enable_external_access') AS external, "
                                      "current_setting('lock_configuration') AS locked")
    assert (code, json.loads(out)) == (EXIT_OK, [{"external": False, "locked": True}])
    code, out, _ = _sql(capsys, root, "DESCRIBE videos")
    assert code == EXIT_OK and "video_id" in {row["column_name"] for row in json.loads(out)}


def _readme_sql_examples() -> list[list[str]]:
    lines = (REPO / "README.md").read_text().splitlines()
    return [shlex.split(line.split("#")[0])[1:] for line in lines if line.startswith(".venv/bin/spacevista sql ")]


def test_every_readme_sql_example_still_runs(capsys, root):
    examples = _readme_sql_examples()
    assert len(examples) >= 4
    for argv in examples:
        assert main([*argv, "--output", str(root)]) == EXIT_OK, (argv, capsys.readouterr().err)
    capsys.readouterr()
    code, out, _ = _sql(capsys, root, "SELECT question, response FROM qa WHERE scale = ? LIMIT 3", "tabletop")
    assert code == EXIT_OK and len(json.loads(out)) == 3


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to watch the process's sockets")
def test_a_url_fails_without_any_network_call(root):
    """Before the sandbox, DuckDB went to install httpfs: DNS queries to the resolver, then an HTTP download."""
    trace = root.parent / "net.trace"
    run = subprocess.run(["strace", "-f", "-qq", "-e", "trace=socket,connect,sendto,sendmsg", "-o", str(trace),
                          sys.executable, "-m", "flows.cli", "sql",
                          "SELECT * FROM read_parquet('https://example.com/x.parquet')", "--output", str(root)],
                         cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.returncode == EXIT_USAGE and "https://example.com/x.parquet" in run.stderr
    inet = [line for line in trace.read_text().splitlines() if re.search(r"AF_INET6?\b", line)]
    assert inet == []


def test_sql_does_not_import_prefect_ray_or_torch(root):
    probe = ("import sys; from flows.cli import main; code = main(['sql', 'SELECT count(*) FROM qa', '--output', "
             f"{str(root)!r}]); print(code, sorted({{m.split('.')[0] for m in sys.modules}} & "
             "{'prefect', 'ray', 'torch'}))")
    run = subprocess.run([sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert run.stdout.splitlines()[-1] == "0 []", run.stderr


def test_an_output_root_of_another_format_version_is_one_line_and_exit_2(capsys, tmp_path):
    layout = OutputLayout(tmp_path)
    rows = to_arrow([FailureRow(run_id="r", uri="v.mp4", scene_id=None, video_id=None, stage="probe",
                                error_type="VideoDecodeError", message="bad")], FailureRow)
    commit_shard(layout, "failures", "s", stage_table(layout, "failures", rows, "s"), "r")
    checkpoint = Path(layout.manifest("failures", 1))
    checkpoint.write_text(checkpoint.read_text().replace(f'"format_version":{FORMAT_VERSION}', '"format_version":2'))
    code, _, err = _sql(capsys, tmp_path, "SELECT count(*) FROM failures")
    assert code == EXIT_USAGE and f"format_version 2 is not {FORMAT_VERSION}" in err
    assert len(err.strip().splitlines()) == 1
