"""Where inputs and outputs may be: the data-root check every input path goes through, and output locations
(a local path or a filesystem URI)."""

from __future__ import annotations

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
