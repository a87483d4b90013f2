"""Property tests over the manifest and run-configuration parsers: any input gives a valid result or the documented
error (ManifestError / OutsideDataRootError for a manifest, ConfigFileError for a config), never another exception,
and never a path outside the data root."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.config import ConfigFileError, CurateConfig, load_curate_config
from schemas.paths import OutsideDataRootError
from sources.manifest import FIELDS, ManifestError, VideoManifest

PROPERTIES = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

PATHS = st.one_of(
    st.sampled_from(["a.mp4", "scene/video.mp4", "scene", "link.mp4", "linked_dir/secret.mp4", "../outside/secret.mp4",
                     ".", "./a.mp4", "scene/../a.mp4", "loop", "loop/x.mp4", "/etc/passwd", "//a.mp4", "a.mp4\x00x",
                     "", "~/a.mp4", "a" * 300]),
    st.lists(st.sampled_from(["..", ".", "scene", "link.mp4", "linked_dir", "x y", "é"]), min_size=1, max_size=5)
    .map("/".join),
    st.text(max_size=40),
)
VALUES = st.one_of(PATHS, st.none(), st.integers(), st.floats(), st.booleans(), st.lists(st.integers(), max_size=2),
                   st.sampled_from(["indoor", "drone", "INDOOR", "galactic"]))
RECORDS = st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=8)), VALUES, max_size=5)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A data root with a real file and folder, symlinks out of it, and a symlink loop."""
    base = tmp_path_factory.mktemp("property")
    root, outside = base / "root", base / "outside"
    (outside / "secret.mp4").parent.mkdir(parents=True)
    (outside / "secret.mp4").write_bytes(b"x")
    (root / "scene").mkdir(parents=True)
    (root / "a.mp4").write_bytes(b"x")
    (root / "link.mp4").symlink_to(outside / "secret.mp4")
    (root / "linked_dir").symlink_to(outside)
    (root / "loop").symlink_to(root / "loop")
    return root


def _parse(manifest: Path, root: Path) -> None:
    """Parse and check every item lies inside the root; the documented manifest errors are acceptable outcomes."""
    try:
        parsed = VideoManifest(manifest, root)
        items = list(parsed)
    except (ManifestError, OutsideDataRootError):
        return
    for item in items:
        assert item.path.resolve().is_relative_to(root.resolve())
        assert item.path == (root / item.uri).resolve()
        assert item.annotations_dir is None or item.annotations_dir.resolve().is_relative_to(root.resolve())
    assert len({i.uri for i in items}) == len(items)
    assert all(r.reason and r.manifest == parsed.path for r in parsed.rejected)
    return items, parsed.rejected


def _manifest(root: Path, suffix: str) -> Path:
    return root / f"m-{uuid.uuid4().hex}{suffix}"


@PROPERTIES
@given(records=st.lists(st.one_of(RECORDS, VALUES), max_size=8))
def test_jsonl_rows_of_any_shape(root, records):
    manifest = _manifest(root, ".jsonl")
    manifest.write_text("".join(json.dumps(r) + "\n" for r in records))
    items, rejected = _parse(manifest, root)
    assert len(items) + len(rejected) == len(records)


@PROPERTIES
@given(text=st.text(max_size=300))
def test_jsonl_of_any_text(root, text):
    manifest = _manifest(root, ".jsonl")
    manifest.write_text(text, encoding="utf-8", errors="surrogatepass")
    _parse(manifest, root)


@PROPERTIES
@given(raw=st.binary(max_size=200))
def test_jsonl_and_csv_of_any_bytes(root, raw):
    for suffix in (".jsonl", ".csv"):
        manifest = _manifest(root, suffix)
        manifest.write_bytes(raw)
        _parse(manifest, root)


@PROPERTIES
@given(header=st.lists(st.sampled_from([*FIELDS, "uri", "other"]), max_size=5),
       rows=st.lists(st.lists(st.one_of(PATHS, st.sampled_from(["indoor", "", '"', ","])), max_size=6), max_size=6))
def test_csv_of_any_columns_and_cells(root, header, rows):
    manifest = _manifest(root, ".csv")
    manifest.write_text("\n".join(",".join(cells) for cells in [header, *rows]).replace("\x00", ""))
    _parse(manifest, root)


@PROPERTIES
@given(rows=st.lists(st.fixed_dictionaries({"uri": st.one_of(PATHS, st.none())},
                                           optional={"tier": st.one_of(st.text(max_size=10), st.none()),
                                                     "annotations_dir": st.one_of(PATHS, st.none()),
                                                     "scene_id": st.one_of(st.text(max_size=10), st.none())}),
                     max_size=6))
def test_parquet_rows(root, rows):
    manifest = _manifest(root, ".parquet")
    schema = pa.schema([(name, pa.string()) for name in FIELDS])
    pq.write_table(pa.Table.from_pylist([{k: r.get(k) for k in FIELDS} for r in rows], schema=schema), manifest)
    items, rejected = _parse(manifest, root)
    assert len(items) + len(rejected) == len(rows)


CONFIG_VALUES = st.one_of(PATHS, st.integers(min_value=-5, max_value=20_000), st.booleans(), st.none(),
                          st.floats(allow_nan=True), st.lists(st.integers(), max_size=2), st.text(max_size=10))
CONFIG_KEYS = st.one_of(st.sampled_from(list(CurateConfig.model_fields)), st.text(max_size=8))


def _load(config: Path, root: Path) -> CurateConfig | None:
    try:
        loaded = load_curate_config(config, {}, defaults={"data_root": root, "output_root": root.parent / "out"})
    except ConfigFileError as err:
        assert str(err).startswith(f"config {config}: ")
        return None
    if loaded.manifest is not None:
        assert (loaded.data_root / loaded.manifest).resolve().is_relative_to(loaded.data_root.resolve())
    return loaded


@PROPERTIES
@given(fields=st.dictionaries(CONFIG_KEYS, CONFIG_VALUES, max_size=6))
def test_config_of_any_fields(root, fields):
    config = root.parent / f"run-{uuid.uuid4().hex}.yaml"
    config.write_text(yaml.safe_dump(fields, allow_unicode=True))
    loaded = _load(config, root)
    if loaded is not None and isinstance(fields.get("shard_size"), int):
        assert loaded.shard_size == fields["shard_size"]


@PROPERTIES
@given(text=st.one_of(st.text(max_size=200), st.sampled_from([
    "!!python/object/apply:os.system ['echo pwned']", "a: !!python/name:builtins.eval", "[1, 2", "- x\n- y",
    "data_root: {a: 1}", "manifest: &x a.mp4\nseed: *x", "? [a, b]\n: 1", "shard_size: 1e400"])))
def test_config_of_any_text(root, text):
    config = root.parent / f"run-{uuid.uuid4().hex}.yaml"
    config.write_text(text, encoding="utf-8", errors="surrogatepass")
    _load(config, root)
