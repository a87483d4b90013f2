"""Snapshot-safe table commits on any filesystem: data files are written in place under unique names, then
published by a new immutable, numbered manifest version.

A table's content is exactly the files its latest manifest version lists (`_manifests/00000042.json`); a reader
reads one version, so it sees the table before or after a commit, never half of one. Versions are created
exclusively and never rewritten, which needs no rename and no lock on object stores; writers on one host take a
per-table lock so two runs' commits of one table serialize. Files carry the shard that wrote them: committing a
shard again replaces that shard's files (re-runs are idempotent, not duplicating). Superseded files stay until
`vacuum` finds that no manifest version current within its grace period lists them, so a reader still holding the
previous version never meets a missing file.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from schemas.arrow import arrow_schema
from storage.filesystem import create_exclusive, delete_file, exists, list_files, read_bytes, write_bytes
from storage.layout import FORMAT_VERSION, OutputLayout
from storage.locks import host_lock
from storage.tables import TABLES, table_spec

VACUUM_GRACE = timedelta(hours=1)
"""How long a superseded manifest version (and the files only it lists) stays readable after a run's vacuum."""

_VERSION_NAME = re.compile(r"^(\d{8})\.json$")
_DATA_NAME = re.compile(r"^part-.+-(\d{8}T\d{6}Z)-[0-9a-f]{8}\.parquet$")
_STAMP = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True)
class StagedFile:
    """A data file written at its final place but not yet published (invisible until a manifest lists it)."""

    table: str
    shard: str
    target: str  # relative to the table directory, e.g. "scale=indoor/task_type=object_size/part-….parquet"
    rows: int
    sha256: str


@dataclass(frozen=True)
class VacuumReport:
    manifests_removed: int
    files_removed: int


def stage_table(layout: OutputLayout, table: str, data: pa.Table, shard: str) -> list[StagedFile]:
    """Write `data` (rows of `table`) as one Parquet file per partition, named with the shard and the write time."""
    spec = table_spec(table)
    data = data.cast(arrow_schema(spec.model))
    staged = []
    for values, part in _partitions(data, spec.partition_by):
        subdir = "/".join(f"{col}={val}" for col, val in zip(spec.partition_by, values))
        name = f"part-{shard}-{datetime.now(UTC):{_STAMP}}-{uuid.uuid4().hex[:8]}.parquet"
        target = f"{subdir}/{name}" if subdir else name
        sink = pa.BufferOutputStream()
        pq.write_table(part.drop_columns(list(spec.partition_by)), sink, compression="zstd")
        encoded = sink.getvalue().to_pybytes()
        write_bytes(layout.fs, layout.table_file(table, target), encoded)
        staged.append(StagedFile(table=table, shard=shard, target=target, rows=part.num_rows,
                                 sha256=hashlib.sha256(encoded).hexdigest()))
    return staged


def commit_shard(layout: OutputLayout, table: str, shard: str, staged: list[StagedFile], run_id: str) -> None:
    """Publish a shard's written files for one table as a new manifest version, replacing the shard's old files."""
    _require_written(layout, table, staged)
    ensure_schema_file(layout, table)
    with host_lock(layout.lock(table)):
        manifest = read_manifest(layout, table)
        files = {rel: entry for rel, entry in manifest["files"].items() if entry["shard"] != shard}
        now = datetime.now(UTC).isoformat()
        for item in staged:
            files[item.target] = {"rows": item.rows, "sha256": item.sha256, "shard": shard, "run_id": run_id,
                                  "committed_at": now}
        version = manifest["version"] + 1
        payload = {**manifest, "version": version, "committed_at": now, "files": files}
        try:
            create_exclusive(layout.fs, layout.manifest(table, version),
                             json.dumps(payload, indent=1, sort_keys=True).encode())
        except FileExistsError:
            raise RuntimeError(f"{layout.location.uri}: table {table} version {version} was committed by a writer "
                               f"on another host; writers of one output root must share a host") from None


def manifest_versions(layout: OutputLayout, table: str) -> list[int]:
    """The table's manifest versions still stored, oldest first."""
    names = (info.base_name for info in list_files(layout.fs, layout.manifests(table)))
    return sorted(int(match.group(1)) for match in map(_VERSION_NAME.match, names) if match)


def read_manifest(layout: OutputLayout, table: str, version: int | None = None) -> dict:
    """A table's manifest: the latest version unless `version` is given; an empty version 0 before any commit."""
    if version is None:
        versions = manifest_versions(layout, table)
        if not versions:
            if exists(layout.fs, layout.legacy_manifest(table)):
                _refuse(layout.legacy_manifest(table), 1)
            return {"table": table, "format_version": FORMAT_VERSION, "version": 0, "files": {}}
        version = versions[-1]
    path = layout.manifest(table, version)
    manifest = json.loads(read_bytes(layout.fs, path))
    if manifest.get("format_version") != FORMAT_VERSION:
        _refuse(path, manifest.get("format_version"))
    return manifest


def table_files(layout: OutputLayout, table: str) -> list[str]:
    """The files that make up a table now, per its latest manifest version."""
    return [layout.table_file(table, rel) for rel in sorted(read_manifest(layout, table)["files"])]


def vacuum(layout: OutputLayout, older_than: timedelta) -> VacuumReport:
    """Remove what no reader can need any more: manifest versions superseded more than `older_than` ago (the
    latest always stays), and data files that no remaining version lists and that were written more than
    `older_than` ago (superseded files, and the orphans of runs killed between writing and committing)."""
    cutoff = datetime.now(UTC) - older_than
    manifests_removed = files_removed = 0
    for table in TABLES:
        with host_lock(layout.lock(table)):
            versions = [read_manifest(layout, table, v) for v in manifest_versions(layout, table)]
            expired = {old["version"] for old, new in zip(versions, versions[1:])
                       if datetime.fromisoformat(new["committed_at"]) <= cutoff}
            listed = {rel for manifest in versions if manifest["version"] not in expired for rel in manifest["files"]}
            prefix = len(layout.table_dir(table)) + 1
            for info in list_files(layout.fs, layout.table_dir(table), recursive=True):
                match = _DATA_NAME.match(info.base_name)
                if match and info.path[prefix:] not in listed and _written_at(match) <= cutoff:
                    delete_file(layout.fs, info.path)
                    files_removed += 1
            for version in sorted(expired):
                delete_file(layout.fs, layout.manifest(table, version))
            manifests_removed += len(expired)
    return VacuumReport(manifests_removed=manifests_removed, files_removed=files_removed)


def ensure_schema_file(layout: OutputLayout, table: str) -> None:
    """Write the table's zero-row schema file once (a typed view for a table that has no rows yet)."""
    path = layout.schema_file(table)
    if not exists(layout.fs, path):
        sink = pa.BufferOutputStream()
        pq.write_table(arrow_schema(table_spec(table).model).empty_table(), sink)
        write_bytes(layout.fs, path, sink.getvalue().to_pybytes())


def _require_written(layout: OutputLayout, table: str, staged: list[StagedFile]) -> None:
    infos = layout.fs.get_file_info([layout.table_file(table, item.target) for item in staged])
    missing = [info.path for info in infos if info.type != pafs.FileType.File]
    if missing:
        raise FileNotFoundError(f"table {table}: {len(missing)} written file(s) are gone before the commit (vacuumed "
                                f"with a grace period shorter than the shard took?), e.g. {missing[0]}")


def _written_at(match: re.Match) -> datetime:
    return datetime.strptime(match.group(1), _STAMP).replace(tzinfo=UTC)


def _refuse(path: str, found: object) -> None:
    raise RuntimeError(f"{path}: format_version {found} is not {FORMAT_VERSION}; this output root was written by "
                       f"another SpaceVista version, use a new --output")


def _partitions(data: pa.Table, columns: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], pa.Table]]:
    if not columns:
        if data.num_rows:
            yield (), data
        return
    keys = data.select(list(columns)).group_by(list(columns)).aggregate([]).to_pylist()
    for key in sorted(keys, key=lambda k: tuple(k.values())):
        mask = None
        for col, val in key.items():
            cond = pc.equal(data[col], val)
            mask = cond if mask is None else pc.and_(mask, cond)
        yield tuple(str(key[c]) for c in columns), data.filter(mask)
