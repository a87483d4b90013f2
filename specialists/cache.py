"""Specialist outputs as plain arrays (.npz, never pickle), keyed by (video hash, specialist, version, params hash)."""

from __future__ import annotations

import logging
import os
import uuid
import zipfile

import numpy as np

from specialists.contract import SpecialistSpec
from storage.layout import OutputLayout

log = logging.getLogger(__name__)


class SpecialistCache:
    """A re-run does no repeated model work; a changed model or parameter misses and recomputes.
    `hits` and `misses` count this process's lookups."""

    def __init__(self, layout: OutputLayout):
        self.layout = layout
        self.hits = 0
        self.misses = 0

    def _path(self, spec: SpecialistSpec, video_sha256: str):
        return self.layout.specialist_output(spec.name, spec.version, spec.params_hash, video_sha256)

    def get(self, spec: SpecialistSpec, video_sha256: str) -> dict[str, np.ndarray] | None:
        """The stored arrays, or None (a miss) when absent or unreadable."""
        path = self._path(spec, video_sha256)
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {key: stored[key] for key in stored.files}
        except FileNotFoundError:
            self.misses += 1
            return None
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            log.warning("specialist cache entry %s is unreadable (%s); recomputing", path, err)
            self.misses += 1
            return None
        self.hits += 1
        return arrays

    def put(self, spec: SpecialistSpec, video_sha256: str, arrays: dict[str, np.ndarray]) -> None:
        """Write atomically (temporary file, then rename), so a reader never sees half an entry."""
        if any(np.asarray(value).dtype == object for value in arrays.values()):
            raise ValueError(f"{spec.name}: cache entries must be plain numeric arrays, got an object array "
                             f"for video {video_sha256}")
        path = self._path(spec, video_sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
        with tmp.open("wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)
