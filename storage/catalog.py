"""The DuckDB catalog: one view per table over exactly the files of one manifest version of that table.

A local root keeps its catalog in `catalog.duckdb`, rebuilt whole into a temporary file under a host lock and
renamed over the old one, so concurrent runs never contend for DuckDB's file lock and a reader that opens it
read-only sees the old catalog or the new one. A non-local root has no catalog file: `query` (for every root)
builds the views in an in-memory DuckDB from the manifests it reads, reading non-local files through the root's
fsspec filesystem registered with DuckDB.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from schemas.arrow import arrow_schema
from storage.commits import ensure_schema_file, table_files
from storage.layout import OutputLayout
from storage.locks import host_lock
from storage.tables import TABLES


def refresh_catalog(layout: OutputLayout) -> Path | None:
    """Rebuild the catalog file of a local root; returns its path (None for a non-local root, which has none)."""
    if layout.catalog is None:
        return None
    layout.catalog.parent.mkdir(parents=True, exist_ok=True)
    with host_lock(layout.lock("catalog")):
        building = layout.catalog.with_name(f".{layout.catalog.name}.{uuid.uuid4().hex[:8]}.tmp")
        try:
            with duckdb.connect(str(building)) as con:
                _create_views(layout, con)
            os.replace(building, layout.catalog)
        finally:
            building.unlink(missing_ok=True)
            building.with_name(building.name + ".wal").unlink(missing_ok=True)
    return layout.catalog


@contextmanager
def snapshot(layout: OutputLayout) -> Iterator[duckdb.DuckDBPyConnection]:
    """An in-memory DuckDB with every table's view over its latest manifest version, read once: all queries on it
    see the same versions."""
    with duckdb.connect() as con:
        _create_views(layout, con)
        yield con


def query(layout: OutputLayout, sql: str, parameters: list | None = None) -> pa.Table:
    """Run one query over the tables as committed now; `parameters` bind to `?` placeholders."""
    with snapshot(layout) as con:
        return con.sql(sql, params=parameters or None).to_arrow_table()


def _create_views(layout: OutputLayout, con: duckdb.DuckDBPyConnection) -> None:
    if not layout.location.is_local:
        con.register_filesystem(layout.location.fsspec_filesystem())
    for name in TABLES:
        con.execute(f"CREATE OR REPLACE VIEW {name} AS {_view_sql(layout, name)}")


def _view_sql(layout: OutputLayout, table: str) -> str:
    spec = TABLES[table]
    files = table_files(layout, table)
    if not files:
        ensure_schema_file(layout, table)
        return f"SELECT * FROM read_parquet({_quote(layout, layout.schema_file(table))})"
    listing = "[" + ", ".join(_quote(layout, f) for f in files) + "]"
    if not spec.partition_by:
        return f"SELECT * FROM read_parquet({listing})"
    hive_types = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in spec.partition_by) + "}"
    columns = ", ".join(f'"{f.name}"' for f in arrow_schema(spec.model))
    return (f"SELECT {columns} FROM read_parquet({listing}, hive_partitioning = true, "
            f"hive_types = {hive_types})")


def _quote(layout: OutputLayout, path: str) -> str:
    return "'" + layout.location.duckdb_path(path).replace("'", "''") + "'"
