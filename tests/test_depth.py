"""Depth specialist: the exact temporal fusion, the clip-wide alignment of N, and Depth Anything loaded from a local
directory the way real weights are (a tiny random-init model saved by the session fixture)."""

from __future__ import annotations

import numpy as np
import pytest

from schemas.specialists import DepthModelConfig
from specialists.contract import SpecialistUnavailable
from specialists.depth import DepthSpecialist, consistent_depth, fuse_temporal


def _dense_fusion(metric: np.ndarray, consistent: np.ndarray, lam: float) -> np.ndarray:
    """The normal equations (I + λLᵀL) D = M + λLᵀL N solved densely, pixel by pixel."""
    steps = metric.shape[0]
    diff = np.diff(np.eye(steps), axis=0)
    system = np.eye(steps) + lam * diff.T @ diff
    flat_m, flat_n = metric.reshape(steps, -1), consistent.reshape(steps, -1)
    return np.linalg.solve(system, flat_m + lam * diff.T @ diff @ flat_n).reshape(metric.shape)


@pytest.mark.parametrize("lam", [0.0, 0.3, 1.0, 25.0])
@pytest.mark.parametrize("steps", [1, 2, 7])
def test_fusion_is_the_exact_minimiser(lam, steps):
    rng = np.random.default_rng(steps)
    metric = rng.uniform(1, 10, (steps, 5, 4)).astype(np.float32)
    consistent = rng.uniform(1, 10, (steps, 5, 4)).astype(np.float32)
    fused = fuse_temporal(metric, consistent, lam)
    assert fused.dtype == np.float32 and fused.shape == metric.shape
    np.testing.assert_allclose(fused, _dense_fusion(metric, consistent, lam), rtol=1e-5, atol=1e-5)


def test_fusion_removes_flicker_but_keeps_the_metric_level():
    rng = np.random.default_rng(0)
    true = np.linspace(2.0, 3.0, 12)[:, None, None] * np.ones((12, 6, 6))    # the camera moves back smoothly
    flicker = true * rng.uniform(0.9, 1.1, (12, 1, 1))                        # per-frame scale noise, as in M
    consistent = 0.5 * true                                                   # right motion, wrong level
    fused = fuse_temporal(flicker, consistent, lam=50.0)
    assert np.abs(np.diff(fused, axis=0) - np.diff(true, axis=0)).max() < 0.5 * np.abs(
        np.diff(flicker, axis=0) - np.diff(true, axis=0)).max()
    assert abs(fused.mean() - flicker.mean()) < 1e-3       # the level comes from M, not from N
    np.testing.assert_allclose(fuse_temporal(flicker, consistent, lam=1e9), consistent + (flicker - consistent).mean(),
                               rtol=1e-4)


def test_fusion_rejects_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        fuse_temporal(np.ones((3, 2, 2)), np.ones((2, 2, 2)), 1.0)
    with pytest.raises(ValueError, match="finite"):
        fuse_temporal(np.full((2, 1, 1), np.nan), np.ones((2, 1, 1)), 1.0)
    with pytest.raises(ValueError, match="lambda"):
        fuse_temporal(np.ones((2, 1, 1)), np.ones((2, 1, 1)), -1.0)


def test_consistent_depth_recovers_an_affine_inverse_depth():
    depth = np.random.default_rng(1).uniform(0.5, 8.0, (4, 10, 10))
    relative = 3.0 / depth + 0.7        # what a relative model predicts: inverse depth up to scale and shift
    np.testing.assert_allclose(consistent_depth(relative, depth.astype(np.float32)), depth, rtol=1e-4)


def _frames(count: int = 3, height: int = 42, width: int = 56) -> np.ndarray:
    return np.random.default_rng(2).integers(0, 256, (count, height, width, 3), dtype=np.uint8)


def test_tiny_depth_anything_loads_from_a_local_directory(tiny_depth_anything):
    config = DepthModelConfig(weights=tiny_depth_anything["metric"], kind="metric", input_size=28, batch_size=2)
    specialist = DepthSpecialist(config, device="cpu")
    depth = specialist.run(_frames())
    assert specialist.metric and depth.shape == (3, 42, 56) and depth.dtype == np.float32
    assert np.isfinite(depth).all() and (depth > 0).all() and (depth <= 20).all()   # sigmoid × max_depth 20 m
    assert specialist.spec.provenance.startswith("depth_anything:metric@")
    one_by_one = DepthSpecialist(config.model_copy(update={"batch_size": 1}), device="cpu").run(_frames())
    np.testing.assert_allclose(one_by_one, depth, rtol=1e-4, atol=1e-4)
    capped = DepthSpecialist(config.model_copy(update={"max_depth_m": 1.0}), device="cpu").run(_frames())
    assert capped.max() <= 1.0


def test_metric_with_relative_reference_is_fused(tiny_depth_anything):
    config = DepthModelConfig(weights=tiny_depth_anything["metric"], kind="metric", input_size=28,
                              temporal_reference=tiny_depth_anything["relative"], temporal_lambda=4.0)
    specialist = DepthSpecialist(config, device="cpu")
    frames = _frames(count=5)
    arrays = specialist.process(frames)
    assert set(arrays) == {"depth", "reference"}
    expected = fuse_temporal(arrays["depth"], consistent_depth(arrays["reference"], arrays["depth"]), 4.0)
    np.testing.assert_allclose(specialist.run(frames), expected, rtol=1e-5)
    plain = DepthSpecialist(config.model_copy(update={"temporal_reference": None}), device="cpu")
    assert plain.spec.weights_sha256 != specialist.spec.weights_sha256
    assert plain.spec.params_hash != specialist.spec.params_hash


def test_depth_configuration_errors(tiny_depth_anything, tmp_path):
    with pytest.raises(ValueError, match="kind='metric' but .* is a 'relative'"):
        DepthSpecialist(DepthModelConfig(weights=tiny_depth_anything["relative"], kind="metric"), device="cpu")
    with pytest.raises(SpecialistUnavailable, match=r"depth_anything: no weights at .*/absent; set `depth.weights`"):
        DepthSpecialist(DepthModelConfig(weights=tmp_path / "absent", kind="metric"), device="cpu")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpecialistUnavailable, match="not a loadable Depth Anything directory"):
        DepthSpecialist(DepthModelConfig(weights=tmp_path / "empty", kind="metric"), device="cpu")
    specialist = DepthSpecialist(DepthModelConfig(weights=tiny_depth_anything["relative"], kind="relative",
                                                  input_size=28), device="cpu")
    with pytest.raises(ValueError, match=r"RGB uint8 frames \[N, H, W, 3\].*float64"):
        specialist.run(np.zeros((2, 28, 28, 3)))
