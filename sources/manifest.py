"""Adapter for a video manifest (JSONL, CSV or Parquet, one row per video), read row by row.

The manifest itself must lie inside the data root, be in a known format and name a `uri` column; otherwise it is
refused whole (ManifestError). A row that cannot be curated (bad JSON, a field that fails validation, a path that
escapes the data root, a repeated uri) does not stop the others: it is kept in `VideoManifest.rejected` with its
line or row number and the reason, and the run records it in `failures`. Files are not opened here: a uri naming
no file fails at its video's probe stage, like any unreadable video.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.config import validation_problems
from schemas.paths import OutsideDataRootError, inside_root, printable
from schemas.tiers import ScaleTier
from sources import annotated, registry, video_folder
from sources.discovery import VideoItem, tier_hint

FORMATS = (".jsonl", ".csv", ".parquet")
PARQUET_BATCH_ROWS = 4096
CSV_EXTRA = "\0extra"  # DictReader's key for values beyond the header


class ManifestError(ValueError):
    """A manifest that cannot be read at all; the message names the file and the problem."""


class ManifestRow(BaseModel):
    """One manifest row as written by the user."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    uri: str = Field(min_length=1, max_length=4096, pattern=r"^[^\x00]+$",
                     description="the video file (or frames folder), relative to the data root; absolute only "
                                 "inside it")
    scene_id: str | None = Field(default=None, min_length=1, max_length=256, pattern=r"^[^\x00-\x1f/\\]+$",
                                 description="default: the annotation folder's name, else the uri without suffix")
    tier: ScaleTier | None = Field(default=None, description="the scale tier, when the source knows it")
    annotations_dir: str | None = Field(default=None, min_length=1, max_length=4096, pattern=r"^[^\x00]+$",
                                        description="an annotated scene folder (schemas/annotations.py)")
    source: str | None = Field(default=None, min_length=1, max_length=64,
                               description="a registered source (`spacevista sources`): the uri is then one of its "
                                           "items, as its discovery names it (a scene folder, or its own key)")


FIELDS = tuple(ManifestRow.model_fields)


@dataclass(frozen=True)
class RejectedRow:
    """A manifest row that was skipped, and why."""

    manifest: Path
    position: str  # "line 12" (JSONL, CSV) or "row 12" (Parquet)
    uri: str | None
    reason: str

    @property
    def message(self) -> str:
        return printable(f"{self.manifest}: {self.position}: {self.reason}")


class VideoManifest:
    """Iterable of the manifest's VideoItems, read lazily in file order; `rejected` fills as rows are read."""

    def __init__(self, path: Path, root: Path) -> None:
        if path.suffix.lower() not in FORMATS:
            raise ManifestError(f"{path}: unknown manifest format {path.suffix!r}; use one of {', '.join(FORMATS)}")
        self.root = root.resolve()
        self.path = _checked_path(self.root, path, "manifest")
        if not self.path.is_file():
            raise ManifestError(f"{path}: manifest not found")
        self.rejected: list[RejectedRow] = []
        self._items: dict[str, dict[str, VideoItem]] = {}  # per named source: its items by uri and by path
        self._records = {".jsonl": _jsonl_records, ".csv": _csv_records, ".parquet": _parquet_records}[
            path.suffix.lower()]
        next(self._records(self.path), None)  # a header or file-level problem surfaces now, not mid-run

    def __iter__(self) -> Iterator[VideoItem]:
        self.rejected = []
        seen: set[str] = set()
        for position, record in self._records(self.path):
            try:
                row = _row(record)
                item = self._source_item(row) if row.source else video_item(self.root, row)
                if item.uri in seen:
                    raise ValueError(f"{item.uri} is listed more than once")
            except ValueError as err:
                uri = record.get("uri") if isinstance(record, dict) else None
                self.rejected.append(RejectedRow(self.path, position, printable(uri) if isinstance(uri, str) else None,
                                                 str(err)))
                continue
            seen.add(item.uri)
            yield item


    def _source_item(self, row: ManifestRow) -> VideoItem:
        """The item of `row.source` that the row's uri names (its discovery runs once per manifest read)."""
        if row.source not in self._items:
            source = registry.get_source(row.source)
            index: dict[str, VideoItem] = {}
            for item in source.discover(self.root):
                index[item.uri] = item
                index.setdefault((item.annotations_dir or item.path).resolve().as_posix(), item)
            self._items[row.source] = index
        index = self._items[row.source]
        key = row.uri if row.uri in index else _checked_path(self.root, Path(row.uri), "uri").as_posix()
        if key not in index:
            raise ValueError(f"uri: {row.uri} is not an item of source {row.source!r} under {self.root}")
        item = index[key]
        return VideoItem(uri=item.uri, path=item.path, source=item.source, scene_id=row.scene_id or item.scene_id,
                         annotations_dir=item.annotations_dir, tier=row.tier or item.tier)


def video_item(root: Path, row: ManifestRow) -> VideoItem:
    """The VideoItem a row describes; every path is resolved (symlinks followed) and must lie inside `root` (a
    resolved data root)."""
    path = _checked_path(root, Path(row.uri), "uri")
    uri = path.relative_to(root).as_posix()
    if row.annotations_dir is None:
        return VideoItem(uri=uri, path=path, source=video_folder.SOURCE,
                         scene_id=row.scene_id or video_folder.scene_id_for(uri),
                         tier=row.tier or tier_hint(uri))
    scene_dir = _checked_path(root, Path(row.annotations_dir), "annotations_dir")
    return VideoItem(uri=uri, path=path, source=annotated.SOURCE, scene_id=row.scene_id or scene_dir.name,
                     annotations_dir=scene_dir, tier=row.tier)


def _checked_path(root: Path, given: Path, field: str) -> Path:
    try:
        path = inside_root(root, root / given)
    except OutsideDataRootError as err:
        raise OutsideDataRootError(f"{field}: {err}") from None
    except (OSError, RuntimeError) as err:  # a symlink loop, a name the OS refuses
        raise ValueError(f"{field}: {given} cannot be resolved ({err})") from None
    if path == root:
        raise ValueError(f"{field}: {given} names the data root itself, not a file in it")
    return path


def _row(record: object) -> ManifestRow:
    if isinstance(record, _Unparsable):
        raise ValueError(record.problem)
    if not isinstance(record, dict):
        raise ValueError(f"expected an object with fields {', '.join(FIELDS)}, got {type(record).__name__}")
    try:
        return ManifestRow.model_validate(record)
    except ValidationError as err:
        raise ValueError(validation_problems(err)) from None


def _jsonl_records(path: Path) -> Iterator[tuple[str, object]]:
    with open(path, "rb") as lines:
        for number, raw in enumerate(lines, start=1):
            try:
                line = raw.decode("utf-8")
                if not line.strip():
                    continue
                record = json.loads(line)
            except UnicodeDecodeError as err:
                record = _Unparsable(f"not UTF-8 text ({err.reason} at byte {err.start})")
            except json.JSONDecodeError as err:
                record = _Unparsable(f"not valid JSON ({err.msg} at column {err.colno})")
            except RecursionError:
                record = _Unparsable("not valid JSON (nested too deeply)")
            yield f"line {number}", record


def _csv_records(path: Path) -> Iterator[tuple[str, object]]:
    with open(path, encoding="utf-8", errors="replace", newline="") as lines:
        reader = csv.DictReader(lines, restkey=CSV_EXTRA)
        try:
            header = reader.fieldnames or []
        except csv.Error as err:
            raise ManifestError(f"{path}: unreadable CSV header ({err})") from None
        _check_columns(path, header)
        while True:
            try:
                record = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                yield f"line {reader.line_num}", _Unparsable(f"unreadable CSV ({err})")
                continue
            yield f"line {reader.line_num}", _csv_record(record, len(header))


def _csv_record(record: dict, n_columns: int) -> object:
    if CSV_EXTRA in record:
        return _Unparsable(f"{n_columns + len(record[CSV_EXTRA])} values for {n_columns} columns")
    values = {k: v for k, v in record.items() if v not in ("", None)}
    if any("\ufffd" in v for v in values.values()):
        return _Unparsable("not UTF-8 text")
    return values


def _parquet_records(path: Path) -> Iterator[tuple[str, object]]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as err:
        raise ManifestError(f"{path}: not a readable Parquet file ({err})") from None
    _check_columns(path, parquet.schema_arrow.names)
    number = 0
    try:
        for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
            for record in batch.to_pylist():
                number += 1
                yield f"row {number}", {k: v for k, v in record.items() if v is not None}
    except (pa.ArrowException, OSError) as err:
        raise ManifestError(f"{path}: unreadable after row {number} ({err})") from None


def _check_columns(path: Path, columns: list[str]) -> None:
    unknown = [c for c in columns if c not in FIELDS]
    if "uri" not in columns or unknown or len(set(columns)) != len(columns):
        raise ManifestError(f"{path}: columns are {', '.join(map(repr, columns)) or 'none'}; a manifest has a 'uri' "
                            f"column and optionally {', '.join(FIELDS[1:])}, each once")


@dataclass(frozen=True)
class _Unparsable:
    """A line that could not be parsed into fields, and why."""

    problem: str
