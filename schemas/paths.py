"""Where inputs and outputs may be: the data-root check every input path goes through, the data root's part in
every scene id, and output locations (a local path or a filesystem URI)."""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

_URI = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]+://")


class OutsideDataRootError(ValueError):
    """An input path (after resolving symlinks) lies outside the configured data root."""


def inside_root(root: Path, path: Path) -> Path:
    """`path` resolved (symlinks followed); raises OutsideDataRootError when it escapes `root`."""
    resolved, base = path.resolve(), root.resolve()
    if not resolved.is_relative_to(base):
        raise OutsideDataRootError(f"{path} resolves to {resolved}, outside the data root {base}")
    return resolved


def data_root_tag(root: Path) -> str:
    """The data root's part of every scene id it gives: 8 hex of the sha256 of its resolved path. The same root,
    named by a relative or an absolute path, by the CLI or a deployment, gives the same tag; another root with the
    same relative layout (a copy, a second dataset) gives another one, so its scene, object and QA ids differ. A
    moved root is another data root: its scenes get new ids (docs/ARCHITECTURE.md "Identity")."""
    return hashlib.sha256(os.fsencode(root.resolve())).hexdigest()[:8]


def rooted_scene_id(scene_id: str, root_tag: str) -> str:
    """A source's scene id (unique within its data root) made unique across data roots: '<scene_id>@<root_tag>'."""
    return f"{scene_id}@{root_tag}"


def source_scene_id(scene_id: str) -> str:
    """The scene id its source gave, within its data root: a rooted id without its '@<root_tag>'."""
    return scene_id.rsplit("@", 1)[0]


def printable(text: str) -> str:
    """`text` as valid UTF-8 for a table or a message: bytes of a file name that are not UTF-8 (which Python keeps
    as lone surrogates) become `\\xNN` escapes, any other lone surrogate a `\\uNNNN` escape."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def is_uri(location: str | Path) -> bool:
    return isinstance(location, str) and bool(_URI.match(location))


def output_location(value: object) -> object:
    """A configured output root: a URI stays a string, any other str or path is a local path (other values are
    left for validation to refuse)."""
    return Path(value) if isinstance(value, (str, Path)) and not is_uri(value) else value
