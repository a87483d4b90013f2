"""What a source's discovery yields (one item to curate), the walk over a data root every layout shares, and the
vetting every item passes before it is planned: a printable name, and no files, content or scene id that an earlier
item already has."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from schemas.paths import data_root_tag, printable, rooted_scene_id
from schemas.tiers import ScaleTier


@dataclass(frozen=True)
class VideoItem:
    """One video to curate: where it is, which adapter found it, and its annotation directory if any."""

    uri: str  # relative to the data root, posix
    path: Path
    source: str
    scene_id: str
    annotations_dir: Path | None = None
    tier: ScaleTier | None = None  # when the source states it (a manifest row, a tier-named folder)
    refused: str | None = None  # why it is not curated (set by `vetted`): it becomes a failures row at once


def tier_hint(uri: str) -> ScaleTier | None:
    """The tier named by the nearest enclosing folder of a data-root-relative posix path, if any."""
    tiers = {tier.value: tier for tier in ScaleTier}
    return next((tiers[part] for part in reversed(uri.split("/")[:-1]) if part in tiers), None)


def folder_scene_id(relative: str) -> str:
    """A scene id from a data-root-relative posix path: its folders joined by '__' (a top-level folder keeps its
    name), so two folders of one name in different subfolders get different ids."""
    return relative.replace("/", "__")


def walk(root: Path) -> Iterator[Path]:
    """Every file under `root`, depth first in name order, then every symlinked folder, listed but never entered
    (what it links to is curated where it lies, or refused as outside the data root; listed last, a link never
    takes the place of its target). Names starting with '.' are skipped: partial renders, temporary files and
    version control are never inputs."""
    links: list[Path] = []
    yield from _files(root, links)
    yield from links


def _files(folder: Path, links: list[Path]) -> Iterator[Path]:
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:  # an unreadable folder holds no items
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if entry.is_dir(follow_symlinks=False):
            yield from _files(Path(entry.path), links)
        elif entry.is_symlink() and entry.is_dir():
            links.append(Path(entry.path))
        else:
            yield Path(entry.path)


def vetted(items: Iterable[VideoItem], root: Path) -> Iterator[VideoItem]:
    """`items` with printable uri and their scene id rooted in `root` (rooted_scene_id); an item is `refused` (and
    still yielded, to be reported) when its path is not UTF-8, when it names the same files as an earlier item (a
    symlink, a second manifest row) or the same bytes (a copied video), or when an earlier item has its scene id.
    Files are hashed only when an earlier file has the same size; nothing outside the data root `root` is read (its
    item's read refuses it)."""
    seen, tag = _Seen(root.resolve()), data_root_tag(root)
    for item in items:
        uri, scene_id = printable(item.uri), printable(item.scene_id)
        refused = item.refused
        if uri != item.uri or scene_id != item.scene_id:
            refused = f"{uri}: the path is not valid UTF-8; rename it"
        refused = refused or seen.duplicate(item, uri, scene_id)
        yield replace(item, uri=uri, scene_id=curated_scene_id(item.scene_id, tag), refused=refused)


def curated_scene_id(source_id: str, root_tag: str) -> str:
    """The id a scene is curated under: its source's id, printable, rooted in its data root (`data_root_tag`)."""
    return rooted_scene_id(printable(source_id), root_tag)


class _Seen:
    """Identities of the items accepted so far: resolved paths, file sizes (then hashes), scene ids."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths: dict[Path, str] = {}  # resolved path → uri
        self.sizes: dict[int, tuple[Path, str] | None] = {}  # file size → its first file, until a second needs hashes
        self.hashes: dict[str, str] = {}  # content hash of a file whose size another file shares → uri
        self.scene_ids: dict[str, str] = {}  # scene id → uri

    def duplicate(self, item: VideoItem, uri: str, scene_id: str) -> str | None:
        """Why `item` repeats an accepted item, else None (and it is accepted)."""
        if scene_id in self.scene_ids:
            return f"{uri}: scene id {scene_id!r} is already used by {self.scene_ids[scene_id]}"
        try:
            path = item.path.resolve()
            if not path.is_relative_to(self.root):
                return None
            if path in self.paths:
                return f"{uri}: the same files as {self.paths[path]} (a link or a repeated row); curated once there"
            same = self._same_bytes(path, uri) if path.is_file() else None
        except (OSError, RuntimeError):  # missing, unreadable, a symlink loop: its read reports it
            return None
        if same is not None:
            return f"{uri}: the same video as {same} (identical bytes); curated once there"
        self.paths[path], self.scene_ids[scene_id] = uri, uri
        return None

    def _same_bytes(self, path: Path, uri: str) -> str | None:
        """The uri of an accepted file with the bytes of `path`, else None (and `path` is noted)."""
        size = path.stat().st_size
        if size not in self.sizes:
            self.sizes[size] = (path, uri)
            return None
        first = self.sizes[size]
        if first is not None:
            self.hashes.setdefault(content_sha256([first[0]]), first[1])
            self.sizes[size] = None
        digest = content_sha256([path])
        if digest in self.hashes:
            return self.hashes[digest]
        self.hashes[digest] = uri
        return None


def content_sha256(files: list[Path]) -> str:
    """Content hash of an item: its video file's bytes, or its frame images' names and bytes, in order."""
    digest = hashlib.sha256()
    for file in files:
        if len(files) > 1:
            digest.update(os.fsencode(file.name))
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
