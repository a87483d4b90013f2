"""Every path under an output root, in one place."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

FORMAT_VERSION = 1


@dataclass(frozen=True)
class OutputLayout:
    root: Path

    @property
    def tables(self) -> Path:
        return self.root / "tables"

    def table_dir(self, table: str) -> Path:
        return self.tables / table

    def manifest(self, table: str) -> Path:
        return self.table_dir(table) / "_manifest.json"

    def schema_file(self, table: str) -> Path:
        """A zero-row Parquet file with the table's full schema, so an empty table still has a typed view."""
        return self.table_dir(table) / "_schema.parquet"

    def lock(self, table: str) -> Path:
        return self.root / "_locks" / f"{table}.lock"

    @property
    def staging(self) -> Path:
        return self.root / "_staging"

    @property
    def artifacts(self) -> Path:
        return self.root / "artifacts"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.duckdb"

    def artifact(self, kind: str, sha256: str, suffix: str) -> Path:
        """Content-addressed artifact path: artifacts/<kind>/<ab>/<sha256><suffix>."""
        return self.artifacts / kind / sha256[:2] / f"{sha256}{suffix}"

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()
