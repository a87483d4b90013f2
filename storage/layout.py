"""Every path under an output root, in one place. The root is a local path or a filesystem URI; paths are strings
inside the root's pyarrow filesystem (`layout.fs`), except the host-local lock files and the local catalog file."""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.fs as pafs

from schemas.paths import output_location
from storage.filesystem import Location, resolve

FORMAT_VERSION = 4
"""4: `qa` and `benchmark` name frames as questions do (`visual_prompts[].frame`, from 1) and video frame numbers by
that name (`video_frame_numbers`, query `video_frame…`; was `image_index` from 0, `frame_indices`, `frame_index`).
3: data files written in place, published by a log of numbered immutable manifest versions: deltas
(`_manifests/00000042.delta.json`) with a checkpoint of the whole file list every 100 (`_manifests/00000100.json`).
2 published every version as a whole file list."""


@dataclass(frozen=True)
class OutputLayout:
    root: Path | str  # a local path, or a URI (kept as given)
    location: Location = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", output_location(self.root))
        object.__setattr__(self, "location", resolve(self.root))

    @property
    def fs(self) -> pafs.FileSystem:
        return self.location.fs

    @property
    def local_root(self) -> Path:
        """The root as a local directory, for the steps that only work on a local disk; a clear error otherwise."""
        if not self.location.is_local:
            raise ValueError(f"output root {self.location.uri}: this step needs a local output directory")
        return Path(self.location.base)

    @property
    def tables(self) -> str:
        return f"{self.location.base}/tables"

    def table_dir(self, table: str) -> str:
        return f"{self.tables}/{table}"

    def table_file(self, table: str, relative: str) -> str:
        """A table's data file named relative to its table directory (as manifests list them)."""
        return f"{self.table_dir(table)}/{relative}"

    def manifests(self, table: str) -> str:
        return f"{self.table_dir(table)}/_manifests"

    def manifest(self, table: str, version: int) -> str:
        """A checkpoint version of a table's manifest log (the whole file list)."""
        return f"{self.manifests(table)}/{version:08d}.json"

    def manifest_delta(self, table: str, version: int) -> str:
        """A delta version of a table's manifest log (what one commit changed)."""
        return f"{self.manifests(table)}/{version:08d}.delta.json"

    def legacy_manifest(self, table: str) -> str:
        """Where format version 1 kept a table's single manifest (such roots are refused, not misread)."""
        return f"{self.table_dir(table)}/_manifest.json"

    @property
    def artifacts(self) -> str:
        return f"{self.location.base}/artifacts"

    def artifact(self, kind: str, sha256: str, suffix: str) -> str:
        """Content-addressed artifact path: artifacts/<kind>/<ab>/<sha256><suffix>."""
        return f"{self.artifacts}/{kind}/{sha256[:2]}/{sha256}{suffix}"

    def specialist_output(self, name: str, version: str, params_hash: str, video_sha256: str) -> str:
        """A cached specialist output (.npz) of one video."""
        return f"{self.artifacts}/specialists/{name}/{version}/{params_hash}/{video_sha256}.npz"

    def path(self, relative: str) -> str:
        """A file named relative to the root (as rows name artifacts)."""
        return f"{self.location.base}/{relative}"

    def relative(self, path: str) -> str:
        prefix = f"{self.location.base}/"
        if not path.startswith(prefix):
            raise ValueError(f"{path} is not under the output root {self.location.uri}")
        return path[len(prefix):]

    @property
    def catalog(self) -> Path | None:
        """The DuckDB catalog file of a local root (its views name files relative to the root); None for a
        non-local one (queries build their views in an in-memory DuckDB, see storage.catalog)."""
        return self.local_root / "catalog.duckdb" if self.location.is_local else None

    def lock(self, name: str) -> Path:
        """A host-local lock file: under a local root, else in the temp dir, keyed by the root's URI."""
        if self.location.is_local:
            return self.local_root / "_locks" / f"{name}.lock"
        key = hashlib.sha256(self.location.uri.encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / "spacevista-locks" / key / f"{name}.lock"
