"""Specialist contract: spec identity, the array cache, the per-tier profile."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from schemas.specialists import DepthModelConfig, SpecialistProfile, load_profile
from schemas.tiers import ScaleTier
from specialists.cache import SpecialistCache
from specialists.contract import SpecialistSpec, SpecialistUnavailable, require_weights, weights_sha256
from storage.layout import OutputLayout


def _spec(**params) -> SpecialistSpec:
    return SpecialistSpec.create("depth_anything", "da-small", "ab" * 32, params or {"input_size": 518})


def test_spec_identity_is_canonical():
    one = SpecialistSpec.create("yolo", "best.pt", "0123456789abcdef" * 4, {"b": [1, 2], "a": {"y": 1, "x": 2}})
    same = SpecialistSpec.create("yolo", "best.pt", "0123456789abcdef" * 4, {"a": {"x": 2, "y": 1}, "b": [1, 2]})
    other = SpecialistSpec.create("yolo", "best.pt", "0123456789abcdef" * 4, {"a": {"x": 2, "y": 1}, "b": [2, 1]})
    assert one == same and one.params_hash == same.params_hash
    assert one.params_hash != other.params_hash and len(one.params_hash) == 16
    assert one.version == "best.pt@0123456789ab"
    assert one.provenance == f"yolo:best.pt@0123456789ab#{one.params_hash}"


def test_weights_hash_covers_every_file_of_a_directory(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text("{}")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x00" * 10)
    before = weights_sha256(tmp_path / "m")
    (tmp_path / "m" / "model.safetensors").write_bytes(b"\x00" * 9 + b"\x01")
    assert weights_sha256(tmp_path / "m") != before


def test_missing_weights_name_specialist_path_and_fix(tmp_path):
    with pytest.raises(SpecialistUnavailable, match=r"yolo: no weights at .*/nope\.pt; copy one there.*downloaded"):
        require_weights("yolo", tmp_path / "nope.pt", "copy one there")


def test_cache_round_trip_and_keys(tmp_path):
    cache = SpecialistCache(OutputLayout(tmp_path))
    arrays = {"depth": np.arange(12, dtype=np.float32).reshape(1, 3, 4), "ids": np.ones((2, 2), np.int32)}
    assert cache.get(_spec(), "f" * 64) is None
    cache.put(_spec(), "f" * 64, arrays)
    got = cache.get(_spec(), "f" * 64)
    assert got.keys() == arrays.keys() and all(np.array_equal(got[k], arrays[k]) for k in arrays)
    assert got["ids"].dtype == np.int32
    assert cache.get(_spec(input_size=280), "f" * 64) is None       # other params: a miss
    assert cache.get(_spec(), "e" * 64) is None                     # other video: a miss
    assert (cache.hits.total(), cache.misses.total()) == (1, 3)
    assert not list(tmp_path.rglob("*.tmp"))


def test_cache_refuses_object_arrays_and_recovers_from_corrupt_entries(tmp_path):
    layout = OutputLayout(tmp_path)
    cache = SpecialistCache(layout)
    with pytest.raises(ValueError, match="plain numeric arrays"):
        cache.put(_spec(), "a" * 64, {"x": np.array([{"a": 1}], dtype=object)})
    path = Path(layout.specialist_output("depth_anything", _spec().version, _spec().params_hash, "a" * 64))
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a zip")
    assert cache.get(_spec(), "a" * 64) is None
    cache.put(_spec(), "a" * 64, {"x": np.zeros(3)})
    assert np.array_equal(cache.get(_spec(), "a" * 64)["x"], np.zeros(3))


def test_profile_resolves_paths_and_tiers_inherit_default(tmp_path):
    path = tmp_path / "profile.yaml"
    path.write_text("default:\n  depth: {weights: models/da-metric, kind: metric, max_depth_m: 80}\n"
                    "  detector: {weights: /abs/best.pt, classes: [person, car]}\n"
                    "tiers:\n  drone: {keyframe_stride: 5, sfm: {enabled: false}, depth: null}\n")
    profile = load_profile(path)
    assert profile.default.depth.weights == tmp_path / "models" / "da-metric"
    drone = profile.for_tier(ScaleTier.DRONE)
    assert drone.depth is None and drone.keyframe_stride == 5 and not drone.sfm.enabled
    assert drone.detector.classes == ["person", "car"]
    assert profile.for_tier(ScaleTier.INDOOR) == profile.default == profile.for_tier(None)


@pytest.mark.parametrize(("text", "message"), [
    ("default:\n  depth: {weights: a, kind: metric, input_size: 500}\n", r"default\.depth\.input_size: .*14"),
    ("default: {}\ntiers: {moon: {}}\n", r"tiers\.moon"),
    ("default:\n  detector: {weights: yolov8n.onnx}\n", r"default\.detector\.weights: .*\.pt file"),
    ("default:\n  depth: {weights: a, kind: relative, max_depth_m: 10}\n", "metric depth model only"),
    ("default:\n  sfm: {enabled: true, bogus: 1}\n", r"default\.sfm\.bogus"),
    ("- a list\n", "expected a mapping"),
])
def test_bad_profile_names_file_and_field(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message) as err:
        load_profile(path)
    assert str(path) in str(err.value)


def test_profile_missing_file_is_clear(tmp_path):
    with pytest.raises(ValueError, match=r"missing\.yaml: cannot read it"):
        load_profile(tmp_path / "missing.yaml")


def test_profile_from_code_needs_no_yaml():
    profile = SpecialistProfile(default={"depth": DepthModelConfig(weights=Path("/m"), kind="relative")})
    assert profile.for_tier(ScaleTier.TABLETOP).depth.kind == "relative"
