"""Runners: the same specialists in-process and as Ray actors give the same outputs; unavailable ones are reported."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from flows.ray_runtime import ray_session
from schemas.specialists import DepthModelConfig, DetectorConfig, TierProfile
from specialists.runner import actor_runners, local_runners, unavailable
from tests.tiny_models import fall_detector_weights


@pytest.fixture(scope="module")
def profile(tiny_depth_anything) -> TierProfile:
    return TierProfile(
        depth=DepthModelConfig(weights=tiny_depth_anything["metric"], kind="metric", input_size=28, batch_size=2,
                               temporal_reference=tiny_depth_anything["relative"]),
        detector=DetectorConfig(weights=fall_detector_weights(), batch_size=2))


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    image = data.astronaut()[::2, ::2]
    return np.stack([np.roll(image, 4 * step, axis=1) for step in range(5)])


def test_unavailable_specialists_are_absent_with_a_reason(tmp_path, tiny_depth_anything):
    profile = TierProfile(depth=DepthModelConfig(weights=tiny_depth_anything["metric"], kind="metric",
                                                 temporal_reference=tmp_path / "no-relative"))
    reasons = unavailable(profile)
    assert set(reasons) == {"depth", "detection"}
    assert "no-relative" in reasons["depth"] and "no detection specialist is configured" in reasons["detection"]
    assert local_runners(profile) == {}
    assert unavailable(TierProfile(depth=profile.depth.model_copy(update={"temporal_reference": None}))).keys() \
        == {"detection"}


def test_actor_runners_match_local_runners(profile, clip):
    local = local_runners(profile)
    expected_depth, expected_tracks = local["depth"].run(clip), local["detection"].run(clip)
    assert expected_tracks.categories      # the astronaut is found
    with ray_session(None, 2):
        import ray  # noqa: PLC0415

        runners = actor_runners(profile, max_batches_in_flight=2)
        assert runners["depth"].spec == local["depth"].spec
        assert runners["detection"].spec == local["detection"].spec
        np.testing.assert_allclose(runners["depth"].run(clip), expected_depth, rtol=1e-4, atol=1e-4)
        tracks = runners["detection"].run(clip)
        assert np.array_equal(tracks.instance_ids, expected_tracks.instance_ids)
        assert tracks.categories == expected_tracks.categories

        @ray.remote(num_cpus=1)
        def in_a_task(runner, frames):          # runners travel into Ray tasks as plain data around actor handles
            return runner.run(frames)

        one_in_flight = actor_runners(TierProfile(depth=profile.depth), max_batches_in_flight=1)
        np.testing.assert_allclose(ray.get(in_a_task.remote(one_in_flight["depth"], clip)), expected_depth,
                                   rtol=1e-4, atol=1e-4)


def test_max_batches_in_flight_must_be_positive(profile):
    with pytest.raises(ValueError, match="max_batches_in_flight must be ≥ 1"):
        actor_runners(profile, max_batches_in_flight=0)
