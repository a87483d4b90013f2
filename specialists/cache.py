"""Specialist outputs as plain arrays (.npz, never pickle), keyed by (video hash, specialist, version, params hash)
and stored through the output root's filesystem (local or a URI, like every artifact)."""

from __future__ import annotations

import io
import logging
import zipfile
from collections import Counter
from collections.abc import Callable

import numpy as np

from specialists.contract import SpecialistSpec
from storage.filesystem import read_bytes, write_bytes
from storage.layout import OutputLayout

log = logging.getLogger(__name__)


class SpecialistCache:
    """A re-run does no repeated model work; a changed model, parameter or keyframe set misses and recomputes.
    `hits` and `misses` count this cache's lookups per specialist name."""

    def __init__(self, layout: OutputLayout):
        self.layout = layout
        self.hits: Counter = Counter()
        self.misses: Counter = Counter()

    def get(self, spec: SpecialistSpec, video_sha256: str, frame_indices: np.ndarray | None = None
            ) -> dict[str, np.ndarray] | None:
        """The stored arrays, or None (a miss) when absent, unreadable, or made for other keyframes than
        `frame_indices` (when given)."""
        arrays = self._read(spec, video_sha256)
        if arrays is not None and frame_indices is not None \
                and not np.array_equal(arrays.get("frame_indices"), frame_indices):
            arrays = None
        (self.hits if arrays is not None else self.misses)[spec.name] += 1
        return arrays

    def fetch(self, spec: SpecialistSpec, video_sha256: str, frame_indices: np.ndarray,
              compute: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
        """The arrays stored for these keyframes, else `compute()`'s, stored with the keyframes they belong to."""
        arrays = self.get(spec, video_sha256, frame_indices)
        if arrays is None:
            arrays = {**compute(), "frame_indices": frame_indices}
            self.put(spec, video_sha256, arrays)
        return arrays

    def put(self, spec: SpecialistSpec, video_sha256: str, arrays: dict[str, np.ndarray]) -> None:
        """Write the whole entry atomically, so a reader never sees half of one."""
        if any(np.asarray(value).dtype == object for value in arrays.values()):
            raise ValueError(f"{spec.name}: cache entries must be plain numeric arrays, got an object array "
                             f"for video {video_sha256}")
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        write_bytes(self.layout.fs, self._path(spec, video_sha256), buffer.getvalue())

    def _path(self, spec: SpecialistSpec, video_sha256: str) -> str:
        return self.layout.specialist_output(spec.name, spec.version, spec.params_hash, video_sha256)

    def _read(self, spec: SpecialistSpec, video_sha256: str) -> dict[str, np.ndarray] | None:
        path = self._path(spec, video_sha256)
        try:
            with np.load(io.BytesIO(read_bytes(self.layout.fs, path)), allow_pickle=False) as stored:
                return {key: stored[key] for key in stored.files}
        except FileNotFoundError:
            return None
        except (OSError, ValueError, zipfile.BadZipFile) as err:
            log.warning("specialist cache entry %s is unreadable (%s); recomputing", path, err)
            return None
