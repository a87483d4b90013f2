"""A table's manifest log: numbered immutable versions, each the delta of one commit, with the whole file list
written as a checkpoint every `CHECKPOINT_INTERVAL` versions (the Delta Lake idea).

Version v is `_manifests/{v:08d}.json` when it is a checkpoint (`files`, `superseded`: the whole table) and
`_manifests/{v:08d}.delta.json` otherwise (what one commit changed: `add` files, `remove` files (per shard) into
`superseded` at the given time, `expire` entries of `superseded`). A file's entry names the shard that wrote it, or
COMPACTED with the `members` it holds (storage.compaction). Version 1 and each multiple of the interval are
checkpoints. A reader lists the directory, loads the latest checkpoint at or below the latest version and applies
the deltas after it, so it sees whole versions only. A process keeps the state it read last (per root and table)
and, while no other version appeared, reads nothing more; otherwise it applies only the deltas published since.
A commit lists the directory once, when it reads the table under its host lock: publishing (and pruning) works
from that listing, since no other writer can change the directory while the lock is held. It thus costs the same at
100 or 10,000 committed shards: it lists at most an interval of versions and writes its delta; the whole list is
written once per interval.

Retention: publishing version v deletes the versions below the checkpoint that v − 1 is read from, so a reader of
the previous version still finds everything it needs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from pyarrow.fs import FileInfo

from storage.filesystem import create_exclusive, delete_file, exists, list_files, read_bytes
from storage.layout import FORMAT_VERSION, OutputLayout

COMPACTED = "~compacted"
"""The `shard` of a compacted file (rows of many shards, storage.compaction): its entry's `members` maps each shard
whose rows it holds to their count, and the file names each row's shard in its `_shard` column."""
CHECKPOINT_INTERVAL = 100
"""Versions between two checkpoints: a reader applies at most this many deltas."""
_READ_ATTEMPTS = 5
"""How often a reader lists the versions again when a version it listed was deleted by commits meanwhile."""
_VERSION_NAME = re.compile(r"^(\d{8})(\.delta)?\.json$")


class ManifestFormatError(RuntimeError):
    """The output root was written by another SpaceVista format version."""


@dataclass
class TableState:
    """A table as of one version: its files grouped by the shard that wrote them (shard → relative path → entry)
    and its superseded files (relative path → when). The state this process keeps of a table is advanced in place
    as versions are read or published; code outside this module reads copies (`as_manifest`)."""

    table: str
    version: int = 0
    committed_at: str | None = None
    shards: dict[str, dict[str, dict]] = field(default_factory=dict)
    superseded: dict[str, str] = field(default_factory=dict)

    @property
    def files(self) -> dict[str, dict]:
        return {rel: entry for files in self.shards.values() for rel, entry in files.items()}

    def holders(self, shard: str) -> dict[str, dict]:
        """The compacted files that hold rows of `shard` (relative path → entry)."""
        return {rel: entry for rel, entry in self.shards.get(COMPACTED, {}).items() if shard in entry["members"]}

    def shard_ids(self) -> set[str]:
        """The shards with rows in this version: in files of their own or in compacted files."""
        compacted = self.shards.get(COMPACTED, {}).values()
        return (self.shards.keys() - {COMPACTED}) | {shard for entry in compacted for shard in entry["members"]}

    def as_manifest(self) -> dict:
        """A copy of the version: `table`, `version`, `committed_at`, `files`, `superseded`."""
        return {"table": self.table, "format_version": FORMAT_VERSION, "version": self.version,
                "committed_at": self.committed_at, "files": self.files, "superseded": dict(self.superseded)}

    def copy(self) -> TableState:
        return TableState(self.table, self.version, self.committed_at,
                          {shard: dict(files) for shard, files in self.shards.items()}, dict(self.superseded))

    def apply(self, delta: dict) -> None:
        """Advance to the next version by `delta`, in place: as much work as the delta has entries."""
        for shard, removed in delta["remove"].items():
            kept = {rel: entry for rel, entry in self.shards.pop(shard, {}).items() if rel not in removed}
            if kept:
                self.shards[shard] = kept
            self.superseded.update(removed)
        for rel in delta["expire"]:
            self.superseded.pop(rel, None)
        for rel, entry in delta["add"].items():
            self.shards.setdefault(entry["shard"], {})[rel] = entry
        self.version, self.committed_at = delta["version"], delta["committed_at"]

    @classmethod
    def from_checkpoint(cls, checkpoint: dict) -> TableState:
        shards: dict[str, dict[str, dict]] = {}
        for rel, entry in checkpoint["files"].items():
            shards.setdefault(entry["shard"], {})[rel] = entry
        return cls(checkpoint["table"], checkpoint["version"], checkpoint.get("committed_at"), shards,
                   dict(checkpoint.get("superseded", {})))


_LAST_READ: dict[tuple[str, str], tuple[dict[int, tuple], TableState]] = {}
"""(root, table) → (the versions listed when it was read or published, the state): what this process read last."""


def is_checkpoint(version: int) -> bool:
    return version == 1 or version % CHECKPOINT_INTERVAL == 0


def manifest_versions(layout: OutputLayout, table: str) -> list[int]:
    """The table's manifest versions still stored (checkpoints and deltas), oldest first."""
    return sorted(_listing(layout, table))


def read_state(layout: OutputLayout, table: str, version: int | None = None) -> TableState:
    """The table at `version` (default: the latest); an empty version 0 before any commit."""
    for _ in range(_READ_ATTEMPTS):
        listing = _listing(layout, table)
        if not listing:
            if exists(layout.fs, layout.legacy_manifest(table)):
                _refuse(layout.legacy_manifest(table), 1)
            if version:
                raise FileNotFoundError(f"{layout.manifests(table)}: version {version} is not stored")
            return TableState(table)
        target = max(listing) if version is None else version
        try:
            return _state_at(layout, table, listing, target)
        except FileNotFoundError:
            if version is not None:
                raise
            continue  # commits deleted a version listed; list again
    raise RuntimeError(f"{layout.manifests(table)}: the versions listed were deleted before they could be read, "
                       f"{_READ_ATTEMPTS} times in a row")


def publish(layout: OutputLayout, base: TableState, committed_at: str, add: dict[str, dict] | None = None,
            remove: dict[str, dict[str, str]] | None = None, expire: list[str] | None = None) -> int:
    """Write the version after `base` (a delta, or a checkpoint at its interval), advance `base` to it and prune
    the versions no reader needs any more (`prune_versions`); how many were pruned. The caller holds the table's
    host lock and read `base` (`read_state`) under it."""
    delta = {"version": base.version + 1, "committed_at": committed_at, "add": add or {}, "remove": remove or {},
             "expire": sorted(expire or ())}
    if is_checkpoint(delta["version"]):
        after = base.copy()
        after.apply(delta)
        path, body = layout.manifest(base.table, after.version), {
            "table": base.table, "format_version": FORMAT_VERSION, "version": after.version,
            "committed_at": committed_at, "files": after.files, "superseded": after.superseded}
    else:
        path = layout.manifest_delta(base.table, delta["version"])
        body = {"table": base.table, "format_version": FORMAT_VERSION, **delta}
    listing = _listed_before(layout, base)
    try:
        create_exclusive(layout.fs, path, json.dumps(body, separators=(",", ":"), sort_keys=True).encode())
    except FileExistsError:
        raise RuntimeError(f"{layout.location.uri}: table {base.table} version {delta['version']} was committed by "
                           f"a writer on another host; writers of one output root must share a host") from None
    base.apply(delta)
    listing[base.version] = (_entry(layout.fs.get_file_info(path)), not is_checkpoint(base.version))  # one stat
    pruned = _prune(layout, base.table, listing)
    for v in pruned:
        del listing[v]
    _LAST_READ[(layout.location.uri, base.table)] = (listing, base)
    return len(pruned)


def prune_versions(layout: OutputLayout, table: str) -> int:
    """Delete the versions no reader of the latest two needs (`_prune`); how many were deleted."""
    return len(_prune(layout, table, _listing(layout, table)))


def _prune(layout: OutputLayout, table: str, listing: dict[int, tuple]) -> list[int]:
    """Delete the versions of `listing` below the checkpoint that a reader of the previous version starts from;
    the versions deleted."""
    previous = max(listing, default=0) - 1
    start = max((v for v, (_, delta) in listing.items() if v <= previous and not delta), default=0)
    old = [v for v in listing if v < start]
    for v in old:
        delete_file(layout.fs, layout.manifest_delta(table, v) if listing[v][1] else layout.manifest(table, v))
    return old


def _listed_before(layout: OutputLayout, base: TableState) -> dict[int, tuple]:
    """The versions stored before the one after `base`: those listed when it was read, where it is the state this
    process keeps of the table and was read at the latest version listed (its caller reads and publishes under the
    host lock, so nothing has changed since); otherwise a new listing."""
    listed, state = _LAST_READ.get((layout.location.uri, base.table), ({}, None))
    if state is base and max(listed, default=0) == base.version:
        return dict(listed)
    return _listing(layout, base.table)


def _state_at(layout: OutputLayout, table: str, listing: dict[int, tuple], version: int) -> TableState:
    if version not in listing:
        raise FileNotFoundError(f"{layout.manifests(table)}: version {version} is not stored")
    key = (layout.location.uri, table)
    listed, state = _LAST_READ.get(key, ({}, None))
    seen = listed.get(state.version) if state is not None else None
    if seen is not None and state.version == version and listing[version] == seen:
        return state
    base = max((v for v, (_, delta) in listing.items() if v <= version and not delta), default=None)
    if base is None:
        raise FileNotFoundError(f"{layout.manifests(table)}: no checkpoint at or below version {version}")
    if seen is None or not base <= state.version < version or listing.get(state.version) != seen:
        state = TableState.from_checkpoint(_load(layout, layout.manifest(table, base)))
    for v in range(state.version + 1, version + 1):
        state.apply(_load(layout, layout.manifest_delta(table, v)))
    _LAST_READ[key] = (listing, state)
    return state


def _listing(layout: OutputLayout, table: str) -> dict[int, tuple]:
    """version → (file name, size, modification time, is a delta) of the stored versions."""
    listing = {}
    for info in list_files(layout.fs, layout.manifests(table)):
        match = _VERSION_NAME.match(info.base_name)
        if match:
            listing[int(match.group(1))] = (_entry(info), bool(match.group(2)))
    return listing


def _entry(info: FileInfo) -> tuple:
    """What identifies a stored version's file: name, size, modification time."""
    return info.base_name, info.size, info.mtime_ns


def _load(layout: OutputLayout, path: str) -> dict:
    manifest = json.loads(read_bytes(layout.fs, path))
    if manifest.get("format_version") != FORMAT_VERSION:
        _refuse(path, manifest.get("format_version"))
    return manifest


def _refuse(path: str, found: object) -> None:
    raise ManifestFormatError(f"{path}: format_version {found} is not {FORMAT_VERSION}; this output root was written "
                              f"by another SpaceVista version, use a new --output")
