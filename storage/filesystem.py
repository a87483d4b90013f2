"""Output locations as pyarrow filesystems: a local path or any filesystem URI (s3://, gs://, memory://, …).

Whole-file writes are atomic on every filesystem: locally through a temporary file and a rename, on object stores
because an object is stored by one PUT (readers see the old object or the new one). Object stores have neither
rename nor flock, so nothing here moves a file after writing it.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.fs as pafs

from schemas.paths import is_uri



@dataclass(frozen=True)
class Location:
    """A filesystem and a base path inside it; `uri` names the location in messages and for DuckDB."""

    fs: pafs.FileSystem
    base: str
    uri: str

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def fsspec_filesystem(self) -> fsspec.AbstractFileSystem:
        """The same storage as an fsspec filesystem (what DuckDB's `register_filesystem` takes)."""
        if isinstance(self.fs, pafs.PyFileSystem):
            return self.fs.handler.fs
        return fsspec.core.url_to_fs(self.uri)[0]

    def duckdb_path(self, path: str) -> str:
        """How DuckDB names a file of this location (a plain path locally, `<protocol>://<path>` otherwise)."""
        if self.is_local:
            return path
        protocol = self.fsspec_filesystem().protocol
        return f"{protocol if isinstance(protocol, str) else protocol[0]}://{path}"


def resolve(location: str | Path) -> Location:
    """The filesystem behind a local path or URI: pyarrow's own for the schemes it knows (file, s3, gs, hdfs, …),
    fsspec's wrapped in a `PyFileSystem` for the others (memory://, …)."""
    if not is_uri(location):
        path = Path(location).absolute().as_posix()
        return Location(pafs.LocalFileSystem(), path, path)
    uri = str(location).rstrip("/")
    try:
        fs, base = pafs.FileSystem.from_uri(uri)
    except pa.ArrowInvalid:
        try:
            spec_fs, base = fsspec.core.url_to_fs(uri)
        except (ValueError, ImportError) as err:
            raise ValueError(f"output location {uri!r}: neither pyarrow nor fsspec knows its scheme ({err})") from None
        fs = pafs.PyFileSystem(pafs.FSSpecHandler(spec_fs))
    if isinstance(fs, pafs.LocalFileSystem):
        return resolve(Path(base))
    return Location(fs, base.rstrip("/"), uri)


def exists(fs: pafs.FileSystem, path: str) -> bool:
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def read_bytes(fs: pafs.FileSystem, path: str) -> bytes:
    with fs.open_input_stream(path) as stream:
        return stream.read()


def write_bytes(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write a whole file atomically (replacing any file there); parent directories are created."""
    fs.create_dir(_parent(path), recursive=True)
    if isinstance(fs, pafs.LocalFileSystem):
        tmp = _temporary(path)
        Path(tmp).write_bytes(data)
        os.replace(tmp, path)
        return
    with fs.open_output_stream(path) as stream:
        stream.write(data)


def create_exclusive(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write a whole file atomically where none exists yet; FileExistsError otherwise. Locally the final name is a
    hard link (exclusive across hosts sharing the disk); an object store has no conditional PUT in pyarrow, so
    there the check and the write are exclusive only among writers that hold the same host lock."""
    fs.create_dir(_parent(path), recursive=True)
    if isinstance(fs, pafs.LocalFileSystem):
        tmp = _temporary(path)
        Path(tmp).write_bytes(data)
        try:
            os.link(tmp, path)
        finally:
            os.unlink(tmp)
        return
    if exists(fs, path):
        raise FileExistsError(path)
    with fs.open_output_stream(path) as stream:
        stream.write(data)


def list_files(fs: pafs.FileSystem, directory: str, recursive: bool = False) -> list[pafs.FileInfo]:
    """The files under a directory (none when it does not exist)."""
    selector = pafs.FileSelector(directory, allow_not_found=True, recursive=recursive)
    return [info for info in fs.get_file_info(selector) if info.type == pafs.FileType.File]


def delete_file(fs: pafs.FileSystem, path: str) -> None:
    """Remove a file; one that is already gone is fine (two vacuums may race)."""
    try:
        fs.delete_file(path)
    except FileNotFoundError:
        pass


def _parent(path: str) -> str:
    return path.rsplit("/", 1)[0]


def _temporary(path: str) -> str:
    parent, name = path.rsplit("/", 1)
    return f"{parent}/.{name}.{uuid.uuid4().hex[:8]}.tmp"
