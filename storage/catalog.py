"""The DuckDB catalog: one view per table over exactly the files its manifest lists."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa

from schemas.arrow import arrow_schema
from storage.commits import ensure_schema_file, table_files
from storage.layout import OutputLayout
from storage.tables import TABLES


def refresh_catalog(layout: OutputLayout) -> Path:
    """(Re)create every table's view in the catalog file; returns the catalog path."""
    layout.root.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(layout.catalog)) as con:
        for name in TABLES:
            con.execute(f"CREATE OR REPLACE VIEW {name} AS {_view_sql(layout, name)}")
    return layout.catalog


def query(layout: OutputLayout, sql: str, parameters: list | None = None) -> pa.Table:
    """Run a query against the catalog (views refreshed first); `parameters` bind to `?` placeholders."""
    refresh_catalog(layout)
    with duckdb.connect(str(layout.catalog), read_only=True) as con:
        return con.sql(sql, params=parameters or None).to_arrow_table()


def _view_sql(layout: OutputLayout, table: str) -> str:
    spec = TABLES[table]
    files = table_files(layout, table)
    if not files:
        ensure_schema_file(layout, table)
        return f"SELECT * FROM read_parquet({_quote(layout.schema_file(table))})"
    listing = "[" + ", ".join(_quote(f) for f in files) + "]"
    if not spec.partition_by:
        return f"SELECT * FROM read_parquet({listing})"
    hive_types = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in spec.partition_by) + "}"
    columns = ", ".join(f'"{f.name}"' for f in arrow_schema(spec.model))
    return (f"SELECT {columns} FROM read_parquet({listing}, hive_partitioning = true, "
            f"hive_types = {hive_types})")


def _quote(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"
