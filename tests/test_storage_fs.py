"""Storage on a non-local pyarrow filesystem (fsspec's `memory://`, wrapped in a pyarrow PyFileSystem): commits,
manifest versions, vacuum, artifacts, the in-memory catalog, and one real shard curated straight onto it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import fsspec
import numpy as np
import pyarrow.fs as pafs
import pytest

from pipeline.shard import Shard, curate_shard
from schemas.arrow import to_arrow
from schemas.config import CurateConfig
from schemas.runs import FailureRow
from schemas.tiers import ScaleTier
from sources import annotated
from sources.synthetic import RenderSettings, generate_scene
from storage.artifacts import put_bytes, put_frame, read_artifact
from storage.catalog import query, refresh_catalog
from storage.commits import commit_shard, read_manifest, stage_table, table_files, vacuum
from storage import manifests
from storage.manifests import manifest_versions
from storage.filesystem import resolve
from storage.layout import OutputLayout
from storage.tables import SHARD_TABLES


@pytest.fixture
def memory_root():
    """A fresh memory:// output root, removed afterwards (the memory filesystem is process-wide)."""
    bucket = f"spacevista-test-{uuid.uuid4().hex[:8]}"
    yield f"memory://{bucket}/out"
    memory = fsspec.filesystem("memory")
    if memory.exists(f"/{bucket}"):
        memory.rm(f"/{bucket}", recursive=True)


def _failures(n: int, run: str) -> list[FailureRow]:
    return [FailureRow(run_id=run, uri=f"v{i}.mp4", scene_id=f"s{i}", video_id=None, stage="probe",
                       error_type="VideoDecodeError", message="bad") for i in range(n)]


def _commit(layout: OutputLayout, n: int, shard: str, run: str = "r1") -> None:
    rows = to_arrow(_failures(n, run), FailureRow)
    commit_shard(layout, "failures", shard, stage_table(layout, "failures", rows, shard), run)


def _parts(layout: OutputLayout) -> list[str]:
    return sorted(p for p in fsspec.filesystem("memory").find(layout.table_dir("failures")) if "/part-" in p)


def test_uris_resolve_to_pyarrow_filesystems(tmp_path):
    memory = resolve("memory://bucket/out")
    assert isinstance(memory.fs, pafs.PyFileSystem) and memory.base == "/bucket/out" and not memory.is_local
    local = resolve(f"file://{tmp_path}")
    assert isinstance(local.fs, pafs.LocalFileSystem) and local.base == tmp_path.as_posix() and local.is_local
    assert resolve(tmp_path / "out").base == f"{tmp_path.as_posix()}/out"
    with pytest.raises(ValueError, match="nosuchscheme://x"):
        resolve("nosuchscheme://x")


def test_commit_query_recommit_and_vacuum_on_memory(memory_root, monkeypatch):
    monkeypatch.setattr(manifests, "CHECKPOINT_INTERVAL", 2)  # checkpoints at versions 1, 2, 4
    layout = OutputLayout(memory_root)
    assert layout.catalog is None and refresh_catalog(layout) is None  # no local catalog file for a remote root
    _commit(layout, 3, "shard-a")
    _commit(layout, 2, "shard-b")
    _commit(layout, 1, "shard-a", run="r2")
    assert manifest_versions(layout, "failures") == [2, 3]  # version 3 deleted what a reader of version 2 needs not
    assert all(f.startswith(layout.table_dir("failures")) for f in table_files(layout, "failures"))
    rows = query(layout, "SELECT run_id, count(*) AS n FROM failures GROUP BY 1 ORDER BY 1").to_pylist()
    assert rows == [{"run_id": "r1", "n": 2}, {"run_id": "r2", "n": 1}]
    assert query(layout, "SELECT count(*) AS n FROM qa").to_pylist() == [{"n": 0}]  # typed empty view

    assert len(_parts(layout)) == 3
    assert vacuum(layout, older_than=timedelta(hours=1)).files_removed == 0  # within the grace period
    report = vacuum(layout, older_than=timedelta(0))
    assert (report.manifests_removed, report.files_removed) == (0, 1)  # a reader of version 3 still needs 2
    assert manifest_versions(layout, "failures") == [2, 3, 4]
    assert _parts(layout) == table_files(layout, "failures")
    assert read_manifest(layout, "failures")["superseded"] == {}
    _commit(layout, 1, "shard-b", run="r3")  # version 5
    _commit(layout, 1, "shard-a", run="r4")  # version 6, a checkpoint
    report = vacuum(layout, older_than=timedelta(0))  # its version 7 expires the two files replaced, prunes 4 and 5
    assert (report.manifests_removed, report.files_removed) == (2, 2)
    assert manifest_versions(layout, "failures") == [6, 7]


def test_artifacts_round_trip_on_memory(memory_root):
    layout = OutputLayout(memory_root)
    sha, relative = put_bytes(layout, "blobs", b"spatial", ".bin")
    assert put_bytes(layout, "blobs", b"spatial", ".bin") == (sha, relative)
    assert relative == f"artifacts/blobs/{sha[:2]}/{sha}.bin" and read_artifact(layout, relative) == b"spatial"
    frame = np.full((8, 8, 3), 90, np.uint8)
    _, jpeg = put_frame(layout, frame)
    assert read_artifact(layout, jpeg)[:2] == b"\xff\xd8"


def test_a_real_shard_curated_onto_memory(tmp_path, memory_root):
    generate_scene(ScaleTier.TABLETOP, 5, tmp_path / "data" / "scene", settings=RenderSettings(num_frames=8))
    items = tuple(annotated.discover(tmp_path / "data"))
    config = CurateConfig(data_root=tmp_path / "data", output_root=memory_root, keyframe_stride=2,
                          generate_default_data=False)
    assert config.output_root == memory_root
    result = curate_shard(Shard(shard_id="s1", items=items), config, "run-1")
    layout = OutputLayout(config.output_root)
    for table in SHARD_TABLES:
        commit_shard(layout, table, result.shard_id, [s for s in result.staged if s.table == table], "run-1")
    counts = {t: query(layout, f"SELECT count(*) AS n FROM {t}").to_pylist()[0]["n"] for t in ("videos", "qa")}
    assert counts == {"videos": 1, "qa": result.row_counts["qa"]} and counts["qa"] > 0
    frame_path = query(layout, "SELECT frame_paths[1] AS f FROM qa LIMIT 1").to_pylist()[0]["f"]
    assert read_artifact(layout, frame_path)[:2] == b"\xff\xd8"  # the keyframe JPEG went to memory:// too
    assert not list(tmp_path.glob("**/tables"))  # nothing was written to the local disk
