"""Security audit: no unsafe deserialization or eval in our sources, user values reach SQL only as bound
parameters, and no input path (manifest rows, config paths) escapes the data root through a symlink."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from flows.cli import EXIT_OK, main
from schemas.arrow import to_arrow
from schemas.config import ConfigFileError, load_curate_config
from schemas.export import ExportConfig
from schemas.ingest import VideoRow
from schemas.paths import OutsideDataRootError
from sources.manifest import VideoManifest
from storage.catalog import refresh_catalog
from storage.commits import commit_shard, stage_table
from storage.layout import OutputLayout
from tests.conftest import REPO
from training.evaluate import load_qa

PICKLE_MODULES = {"pickle", "cPickle", "_pickle", "cloudpickle", "dill", "joblib", "shelve", "marshal"}
SQL_START = re.compile(r"^\s*(SELECT|WITH|CREATE|INSERT|UPDATE|DELETE|DROP|COPY|ALTER|ATTACH|PRAGMA|INSTALL|LOAD|SET|"
                       r"COMMENT)\b", re.IGNORECASE)
REVIEWED_FORMATTED_SQL = {
    ("storage/catalog.py", "_create_views"): "view names come from storage.tables.TABLES",
    ("storage/catalog.py", "_view_sql"): "column names come from the row models, file paths go through _literal",
    ("storage/catalog.py", "_no_rows_sql"): "column names and DuckDB types come from the row models",
    ("storage/catalog.py", "_comments"): "names come from TABLES and the row models, texts (schemas.descriptions) "
                                         "go through _literal",
    ("training/export.py", "_filtered"): "the table is a Literal; filter values are bound as `?` parameters",
    ("training/evaluate.py", "load_qa"): "the table name is checked against storage.tables.TABLES first",
}
"""Every SQL statement built by string formatting, reviewed: none pastes a user-supplied value."""


def _keyword(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return node.id if isinstance(node, ast.Name) else ""


def unsafe_calls(source: str) -> list[str]:
    """Pickle imports and calls, unsafe YAML loading, np.load(allow_pickle=True), torch.load without
    weights_only=True, torch.save, and builtin eval/exec in `source`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            found += [f"line {node.lineno}: import {n}" for n in names if n.split(".")[0] in PICKLE_MODULES]
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        loader = _dotted(_keyword(node, "Loader") or ast.Constant(None))
        problems = {
            "eval/exec": name in ("eval", "exec"),
            "pickle": name.split(".")[-1] in ("read_pickle", "to_pickle") or name.split(".")[0] in PICKLE_MODULES,
            "unsafe yaml": name in ("yaml.unsafe_load", "yaml.full_load", "yaml.full_load_all", "yaml.unsafe_load_all")
            or (name in ("yaml.load", "yaml.load_all") and loader.split(".")[-1] not in ("SafeLoader", "CSafeLoader")),
            "np.load(allow_pickle=True)":
                name in ("np.load", "numpy.load") and _is_true(_keyword(node, "allow_pickle")),
            "torch.load without weights_only=True":
                name == "torch.load" and not _is_true(_keyword(node, "weights_only")),
            "torch.save (pickle)": name == "torch.save",
        }
        found += [f"line {node.lineno}: {what}: {name}(…)" for what, hit in problems.items() if hit]
    return found


def _project_sources() -> list[Path]:
    skip = {".venv", "build", "dist", "node_modules", ".git"}
    return [p for p in sorted(REPO.rglob("*.py"))
            if not skip & set(p.relative_to(REPO).parts) and not p.relative_to(REPO).parts[0].endswith(".egg-info")]


def test_the_scanner_flags_each_unsafe_pattern():
    snippet = "\n".join(["import pickle", "from cloudpickle import dumps", "yaml.load(text)",
                         "yaml.load(text, Loader=yaml.FullLoader)", "np.load(p, allow_pickle=True)", "torch.load(p)",
                         "torch.save(m, p)", "eval('1')", "exec('x = 1')", "df.to_pickle(p)",
                         # safe forms, not flagged:
                         "yaml.safe_load(text)", "yaml.load(text, Loader=yaml.SafeLoader)", "np.load(p)",
                         "np.load(p, allow_pickle=False)", "torch.load(p, weights_only=True)", "model.eval()"])
    assert [line.split(":")[0] for line in unsafe_calls(snippet)] == [f"line {n}" for n in range(1, 11)]


def test_no_project_source_deserializes_unsafely_or_evaluates_strings():
    sources = _project_sources()
    assert len(sources) > 50 and REPO / "sources" / "manifest.py" in sources
    found = {str(p.relative_to(REPO)): hits for p in sources if (hits := unsafe_calls(p.read_text()))}
    assert found == {}


def formatted_sql(tree: ast.AST) -> list[tuple[str, int]]:
    """(function, line) of every SQL statement built by string formatting (an f-string, `.format` or `%` whose
    text starts with an SQL keyword) in `tree`."""
    sites = []
    for function in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
        for node in ast.walk(function):
            if isinstance(node, ast.JoinedStr):
                text = node.values[0].value if node.values and isinstance(node.values[0], ast.Constant) else ""
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "format":
                text = node.func.value.value if isinstance(node.func.value, ast.Constant) else ""
            elif isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
                text = node.left.value if isinstance(node.left, ast.Constant) else ""
            else:
                continue
            if isinstance(text, str) and SQL_START.match(text):
                sites.append((function.name, node.lineno))
    return sites


def test_the_sql_formatting_finder_sees_each_form():
    snippet = ("def f(t, v):\n    a = f'SELECT * FROM {t}'\n    b = 'DELETE FROM {}'.format(t)\n"
               "    c = 'select %s' % v\n    d = f'{t} rows'\n    e = 'SELECT ?'\n")
    assert formatted_sql(ast.parse(snippet)) == [("f", 2), ("f", 3), ("f", 4)]


def test_every_formatted_sql_statement_is_reviewed():
    """In the code a user's values pass through (tests and benchmarks build SQL from their own constants)."""
    sites = {(str(path.relative_to(REPO)), function)
             for path in _project_sources() if path.relative_to(REPO).parts[0] not in ("tests", "benchmarks")
             for function, _ in formatted_sql(ast.parse(path.read_text()))}
    assert sites - set(REVIEWED_FORMATTED_SQL) == set()


@pytest.fixture
def catalog(tmp_path) -> Path:
    """An output root with a two-row `videos` table."""
    layout = OutputLayout(tmp_path / "out")
    rows = [VideoRow(video_id=f"v{n}", source="video_folder", uri=f"plain/{n}.mp4", scene_id=f"scene{n}",
                     size_bytes=10, fps=30.0, n_frames=30, width=64, height=48, duration_s=1.0,
                     has_native_annotations=False, run_id="r") for n in range(2)]
    commit_shard(layout, "videos", "s", stage_table(layout, "videos", to_arrow(rows, VideoRow), "s"), "r")
    refresh_catalog(layout)
    return tmp_path / "out"


def _sql(capsys, output: Path, sql: str, *params: str) -> list[dict]:
    args = ["sql", sql, "--output", str(output), "--format", "json"]
    for value in params:
        args += ["--param", value]
    assert main(args) == EXIT_OK
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize("attack", ["scene0' OR '1'='1", "x'; DROP VIEW videos; --",
                                    "' UNION SELECT uri FROM videos --"])
def test_an_injection_attempt_as_a_sql_filter_returns_no_rows(catalog, capsys, attack):
    assert _sql(capsys, catalog, "SELECT uri FROM videos WHERE scene_id = ?", "scene0") == [{"uri": "plain/0.mp4"}]
    assert _sql(capsys, catalog, "SELECT uri FROM videos WHERE scene_id = ?", attack) == []
    assert _sql(capsys, catalog, "SELECT count(*) AS n FROM videos") == [{"n": 2}]


def test_export_and_evaluate_take_table_and_filter_names_from_closed_sets(tmp_path):
    with pytest.raises(ValidationError, match="tiers"):
        ExportConfig(output_root=tmp_path, export_dir=tmp_path / "x", tiers=("drone') OR 1=1 --",))
    with pytest.raises(ValidationError, match="table"):
        ExportConfig(output_root=tmp_path, export_dir=tmp_path / "x", table='qa" ; DROP VIEW qa; --')
    with pytest.raises(KeyError, match="unknown table"):
        load_qa(OutputLayout(tmp_path), 'qa" ; DROP VIEW qa; --')


@pytest.fixture
def escape(tmp_path) -> tuple[Path, Path]:
    """A data root holding symlinks to a file and a folder outside it."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    (outside / "scene").mkdir(parents=True)
    (outside / "secret.mp4").write_bytes(b"not yours")
    (outside / "videos.jsonl").write_text(json.dumps({"uri": "a.mp4"}) + "\n")
    root.mkdir()
    (root / "a.mp4").write_bytes(b"x")
    (root / "link.mp4").symlink_to(outside / "secret.mp4")
    (root / "linked_scene").symlink_to(outside / "scene")
    (root / "linked_dir").symlink_to(outside)
    (root / "linked.jsonl").symlink_to(outside / "videos.jsonl")
    return root, outside


def test_manifest_entries_cannot_escape_the_root_through_symlinks(escape):
    root, outside = escape
    rows = [{"uri": "link.mp4"}, {"uri": "linked_dir/secret.mp4"}, {"uri": str(root / "link.mp4")},
            {"uri": "a.mp4", "annotations_dir": "linked_scene"}, {"uri": "a.mp4"}]
    (root / "videos.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    parsed = VideoManifest(root / "videos.jsonl", root)
    assert [i.uri for i in parsed] == ["a.mp4"]
    assert [r.position for r in parsed.rejected] == ["line 1", "line 2", "line 3", "line 4"]
    assert all("outside the data root" in r.reason for r in parsed.rejected)
    assert "annotations_dir:" in parsed.rejected[3].reason


def test_a_manifest_reached_through_a_symlink_out_of_the_root_is_refused(escape):
    root, _ = escape
    with pytest.raises(OutsideDataRootError, match="outside the data root"):
        VideoManifest(root / "linked.jsonl", root)


@pytest.mark.parametrize("manifest", ["linked.jsonl", "linked_dir/videos.jsonl", "../outside/videos.jsonl"])
def test_config_input_paths_cannot_escape_the_root(escape, tmp_path, manifest):
    root, _ = escape
    config = tmp_path / "run.yaml"
    config.write_text(f"data_root: root\noutput_root: out\nmanifest: root/{manifest}\n")
    with pytest.raises(ConfigFileError, match=f"config {config}: .*manifest: .*outside the data root"):
        load_curate_config(config, {})
    with pytest.raises(ConfigFileError, match="command line: .*manifest: .*outside the data root"):
        load_curate_config(None, {"data_root": root, "output_root": tmp_path / "out", "manifest": root / manifest})
