"""Snapshot-safe table commits on any filesystem: data files are written in place under unique names, then
published by a new immutable, numbered manifest version.

A table's content is exactly the files its latest manifest version lists (`_manifests/00000042.json`); a reader
reads one version, so it sees the table before or after a commit, never half of one. Versions are created
exclusively and never rewritten, which needs no rename and no lock on object stores; writers on one host take a
per-table lock so two runs' commits of one table serialize. Each new version deletes those older than its
predecessor, so a table stores two versions, not its history. Files carry the shard that wrote them: committing a
shard again replaces that shard's files (re-runs are idempotent, not duplicating); the replaced files move to the
manifest's `superseded` map with the commit time, and `vacuum` deletes them only once its grace period has passed
since then, so a reader still holding the previous file list never meets a missing file.
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
"""How long a superseded data file stays readable (for readers of an earlier file list) before a vacuum."""
_READ_ATTEMPTS = 5
"""How often a reader lists the versions again when the latest it listed was deleted by two commits meanwhile."""

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
    manifests_removed: int  # versions this vacuum found or left older than the latest two
    files_removed: int  # superseded data files past their grace, and orphans


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
        replaced = dict.fromkeys(manifest["files"].keys() - files.keys(), now)
        for item in staged:
            files[item.target] = {"rows": item.rows, "sha256": item.sha256, "shard": shard, "run_id": run_id,
                                  "committed_at": now}
        version = _publish(layout, table, {**manifest, "committed_at": now, "files": files,
                                           "superseded": {**manifest["superseded"], **replaced}})
        _delete_versions_before(layout, table, version - 1)


def manifest_versions(layout: OutputLayout, table: str) -> list[int]:
    """The table's manifest versions still stored, oldest first."""
    names = (info.base_name for info in list_files(layout.fs, layout.manifests(table)))
    return sorted(int(match.group(1)) for match in map(_VERSION_NAME.match, names) if match)


def read_manifest(layout: OutputLayout, table: str, version: int | None = None) -> dict:
    """A table's manifest: the latest version unless `version` is given; an empty version 0 before any commit."""
    if version is not None:
        return _load_manifest(layout, table, version)
    for _ in range(_READ_ATTEMPTS):
        versions = manifest_versions(layout, table)
        if not versions:
            if exists(layout.fs, layout.legacy_manifest(table)):
                _refuse(layout.legacy_manifest(table), 1)
            return {"table": table, "format_version": FORMAT_VERSION, "version": 0, "files": {}, "superseded": {}}
        try:
            return _load_manifest(layout, table, versions[-1])
        except FileNotFoundError:
            continue  # two commits deleted the version listed; the versions after it are there
    raise RuntimeError(f"{layout.manifests(table)}: the latest manifest version was deleted before it could be read, "
                       f"{_READ_ATTEMPTS} times in a row")


def table_files(layout: OutputLayout, table: str) -> list[str]:
    """The files that make up a table now, per its latest manifest version."""
    return [layout.table_file(table, rel) for rel in sorted(read_manifest(layout, table)["files"])]


def vacuum(layout: OutputLayout, older_than: timedelta, sweep_orphans: bool = True) -> VacuumReport:
    """Remove what no reader can need any more: data files superseded more than `older_than` ago (publishing a
    version without them in its `superseded` map), manifest versions older than the latest two, and, with
    `sweep_orphans` (it lists every data file), the files that no manifest names and that were written more than
    `older_than` ago (the orphans of runs killed between writing and committing)."""
    now = datetime.now(UTC)
    cutoff = now - older_than
    manifests_removed = files_removed = 0
    for table in TABLES:
        with host_lock(layout.lock(table)):
            manifest = read_manifest(layout, table)
            superseded = manifest["superseded"]
            expired = {rel for rel, at in superseded.items() if datetime.fromisoformat(at) <= cutoff}
            for rel in sorted(expired):
                delete_file(layout.fs, layout.table_file(table, rel))
            files_removed += len(expired)
            if sweep_orphans:
                files_removed += _sweep_orphans(layout, table, manifest["files"].keys() | superseded.keys(), cutoff)
            version = manifest["version"]
            if expired:
                version = _publish(layout, table, {**manifest, "committed_at": now.isoformat(), "superseded": {
                    rel: at for rel, at in superseded.items() if rel not in expired}})
            manifests_removed += _delete_versions_before(layout, table, version - 1)
    return VacuumReport(manifests_removed=manifests_removed, files_removed=files_removed)


def ensure_schema_file(layout: OutputLayout, table: str) -> None:
    """Write the table's zero-row schema file once (a typed view for a table that has no rows yet)."""
    path = layout.schema_file(table)
    if not exists(layout.fs, path):
        sink = pa.BufferOutputStream()
        pq.write_table(arrow_schema(table_spec(table).model).empty_table(), sink)
        write_bytes(layout.fs, path, sink.getvalue().to_pybytes())


def _publish(layout: OutputLayout, table: str, manifest: dict) -> int:
    """Write `manifest` as the version after its own; returns the new version."""
    version = manifest["version"] + 1
    try:
        create_exclusive(layout.fs, layout.manifest(table, version),
                         json.dumps({**manifest, "version": version}, indent=1, sort_keys=True).encode())
    except FileExistsError:
        raise RuntimeError(f"{layout.location.uri}: table {table} version {version} was committed by a writer "
                           f"on another host; writers of one output root must share a host") from None
    return version


def _delete_versions_before(layout: OutputLayout, table: str, version: int) -> int:
    """Delete the table's manifest versions older than `version` (a reader may still be reading `version`)."""
    old = [v for v in manifest_versions(layout, table) if v < version]
    for v in old:
        delete_file(layout.fs, layout.manifest(table, v))
    return len(old)


def _sweep_orphans(layout: OutputLayout, table: str, named: set[str], cutoff: datetime) -> int:
    """Delete the table's data files that `named` lacks and whose name says they were written before `cutoff`."""
    removed = 0
    prefix = len(layout.table_dir(table)) + 1
    for info in list_files(layout.fs, layout.table_dir(table), recursive=True):
        match = _DATA_NAME.match(info.base_name)
        if match and info.path[prefix:] not in named and _written_at(match) <= cutoff:
            delete_file(layout.fs, info.path)
            removed += 1
    return removed


def _load_manifest(layout: OutputLayout, table: str, version: int) -> dict:
    path = layout.manifest(table, version)
    manifest = json.loads(read_bytes(layout.fs, path))
    if manifest.get("format_version") != FORMAT_VERSION:
        _refuse(path, manifest.get("format_version"))
    return {"superseded": {}, **manifest}  # versions written before superseded files were recorded


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
