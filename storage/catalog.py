"""The DuckDB catalog: one view per table over exactly the files of one manifest version of that table, the view
and each of its columns commented (`COMMENT ON`, text from schemas.descriptions).

A local root keeps its catalog in `catalog.duckdb`, rebuilt whole into a temporary file under a host lock and
renamed over the old one, so concurrent runs never contend for DuckDB's file lock and a reader that opens it
read-only sees the old catalog or the new one. Its views name their files relative to the output root, so a copied
or moved root reads its own files: `open_catalog` resolves them from the root (DuckDB's `file_search_path`).

Queries (`query`, `snapshot`, hence `spacevista sql`) build the views in an in-memory DuckDB from the manifests they
read, for every root (a non-local root's files are read through its fsspec filesystem registered with DuckDB), and
run sandboxed: DuckDB reads files under the output root only, never the network, installs or loads no extension,
and its settings are locked; `query` runs a single SELECT (DESCRIBE, SHOW and SUMMARIZE are SELECTs), so nothing
writes a file, attaches a database or changes a setting.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from schemas.arrow import arrow_schema
from schemas.descriptions import TABLE_DESCRIPTIONS, column_description
from storage.commits import table_files
from storage.layout import OutputLayout
from storage.locks import host_lock
from storage.tables import TABLES, TableSpec

SANDBOX_CONFIG = {"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                  "allow_community_extensions": False, "allow_persistent_secrets": False}
"""Set when a query connection opens (these cannot change later); the rest of the sandbox is set in `_seal`."""


class QueryRefused(ValueError):
    """A statement the sandbox does not run, or a file it does not let a query read."""


def refresh_catalog(layout: OutputLayout) -> Path | None:
    """Rebuild the catalog file of a local root; returns its path (None for a non-local root, which has none)."""
    if layout.catalog is None:
        return None
    layout.catalog.parent.mkdir(parents=True, exist_ok=True)
    with host_lock(layout.lock("catalog")):
        building = layout.catalog.with_name(f".{layout.catalog.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with _searchable(layout.local_root) as root, \
                    duckdb.connect(str(building), config={"file_search_path": root}) as con:
                _create_views(layout, con, layout.relative)
            os.replace(building, layout.catalog)
        finally:
            building.unlink(missing_ok=True)
            building.with_name(building.name + ".wal").unlink(missing_ok=True)
    return layout.catalog


@contextmanager
def open_catalog(layout: OutputLayout) -> Iterator[duckdb.DuckDBPyConnection]:
    """The catalog file of a local root, read-only, its views reading the files of this root wherever it lies now
    (from a DuckDB client: `SET file_search_path = '<root>'`, or start the client in the root)."""
    with _searchable(layout.local_root) as root, \
            duckdb.connect(str(layout.catalog), read_only=True, config={"file_search_path": root}) as con:
        yield con


@contextmanager
def _searchable(root: Path) -> Iterator[str]:
    """`root` as DuckDB's `file_search_path` can name it: that setting is a comma-separated list, so a root whose
    path has a comma is named by a temporary symlink to it."""
    if "," not in str(root):
        yield str(root)
        return
    with tempfile.TemporaryDirectory(prefix="spacevista-root-") as aliases:
        alias = Path(aliases) / "root"
        alias.symlink_to(root, target_is_directory=True)
        yield str(alias)


@contextmanager
def snapshot(layout: OutputLayout, tables: list[str] | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """A sandboxed in-memory DuckDB with every table's view, commented, over its latest manifest version, read once:
    all queries on it see the same versions. With `tables`, only their views, uncommented (comments are read only
    through the catalog's own functions, duckdb_columns() and the like)."""
    with duckdb.connect(config=SANDBOX_CONFIG) as con:
        if not layout.location.is_local:
            con.register_filesystem(layout.location.fsspec_filesystem())
        _create_views(layout, con, layout.location.duckdb_path, tables)
        _seal(layout, con)
        yield con


def query(layout: OutputLayout, sql: str, parameters: list | None = None) -> pa.Table:
    """Run one SELECT over the tables as committed now; `parameters` bind to `?` placeholders. Any other statement,
    or a read of a file outside the output root, raises QueryRefused. Only the views of the tables the query names
    are built (all of them, commented, when it reads the catalog itself)."""
    with snapshot(layout, _named_tables(sql)) as con:
        statement = _single_select(con, sql)
        try:
            return con.sql(statement, params=parameters or None).to_arrow_table()
        except duckdb.PermissionException as err:
            raise QueryRefused(f"{str(err).splitlines()[0]} (a query reads files under the output root "
                               f"{layout.location.uri} only)") from None


def _single_select(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.Statement:
    statements = con.extract_statements(sql)
    if len(statements) != 1:
        raise QueryRefused(f"one statement at a time, got {len(statements) or 'none'}")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        raise QueryRefused(f"{kind.name} statements are not allowed: the catalog is read-only (run a SELECT, "
                           "DESCRIBE, SHOW or SUMMARIZE)")
    return statements[0]


def _seal(layout: OutputLayout, con: duckdb.DuckDBPyConnection) -> None:
    """Let DuckDB reach the files under the output root only, then lock every setting."""
    con.execute("SET allowed_directories = ?", [[layout.location.duckdb_path(layout.location.base) + "/"]])
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


def _named_tables(sql: str) -> list[str] | None:
    """The catalog tables a statement names; None when it names none, or may read the catalog itself (SHOW,
    duckdb_views(), information_schema…). A name inside a string or a comment is not a token that counts."""
    tokens = duckdb.tokenize(sql)
    words = set()
    for (start, kind), (end, _) in zip(tokens, [*tokens[1:], (len(sql), None)]):
        if kind in (duckdb.token_type.identifier, duckdb.token_type.keyword):
            words.add(sql[start:end].strip().strip('"').lower())
    named = words & TABLES.keys()
    if not named or "show" in words or any(w.startswith(_CATALOG_READERS) for w in words):
        return None
    return sorted(named)


_CATALOG_READERS = ("duckdb_", "information_schema", "pg_", "sqlite_", "pragma_")


def _create_views(layout: OutputLayout, con: duckdb.DuckDBPyConnection, name_file: Callable[[str], str],
                  tables: list[str] | None = None) -> None:
    """One commented view per table, or an uncommented one per table of `tables`; `name_file` turns a file's path in
    the root's filesystem into the path the view names it by."""
    for name in TABLES if tables is None else tables:
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {_view_sql(layout, con, name, name_file)}")
        if tables is None:
            con.execute(";\n".join(_comments(name, TABLES[name])))


def _view_sql(layout: OutputLayout, con: duckdb.DuckDBPyConnection, table: str,
              name_file: Callable[[str], str]) -> str:
    spec = TABLES[table]
    files = table_files(layout, table)
    if not files:
        return _no_rows_sql(con, spec)
    listing = "[" + ", ".join(_literal(name_file(f)) for f in files) + "]"
    columns = ", ".join(f'"{f.name}"' for f in arrow_schema(spec.model))  # not a compacted file's `_shard`
    if not spec.partition_by:
        return f"SELECT {columns} FROM read_parquet({listing})"
    hive_types = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in spec.partition_by) + "}"
    return (f"SELECT {columns} FROM read_parquet({listing}, hive_partitioning = true, "
            f"hive_types = {hive_types})")


def _no_rows_sql(con: duckdb.DuckDBPyConnection, spec: TableSpec) -> str:
    """A typed view of no rows, for a table nothing was committed to yet (built without reading or writing a file)."""
    schema = arrow_schema(spec.model)
    relation = con.from_arrow(pa.RecordBatchReader.from_batches(schema, []))  # (an empty Table would import pandas)
    columns = ", ".join(f'CAST(NULL AS {kind}) AS "{name}"' for name, kind in zip(relation.columns, relation.types))
    return f"SELECT {columns} LIMIT 0"


def _comments(table: str, spec: TableSpec) -> list[str]:
    comments = [f"COMMENT ON VIEW {table} IS {_literal(TABLE_DESCRIPTIONS.get(table, ''))}"]
    comments += [f'COMMENT ON COLUMN {table}."{column}" IS {_literal(column_description(spec.model, column))}'
                 for column in spec.model.model_fields]
    return comments


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
