"""Detection + tracking: the real YOLOv8 person detector on a real photograph, stable ids, empty results, errors."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data

from schemas.specialists import DetectorConfig
from specialists.contract import SpecialistUnavailable
from specialists.detection import DetectionSpecialist
from tests.tiny_models import fall_detector_weights, random_yolo_yaml


@pytest.fixture(scope="module")
def astronaut_clip() -> np.ndarray:
    """skimage's astronaut (512×512) panned right by 6 px per frame: the same person in every frame."""
    image = data.astronaut()
    return np.stack([np.roll(image, 6 * step, axis=1) for step in range(4)])


@pytest.mark.parametrize("tracker", ["bytetrack", "botsort"])
def test_real_detector_finds_and_tracks_the_astronaut(astronaut_clip, tracker):
    specialist = DetectionSpecialist(DetectorConfig(weights=fall_detector_weights(), tracker=tracker, batch_size=3),
                                     device="cpu")
    tracks = specialist.run(astronaut_clip)
    best = max(tracks.confidences, key=tracks.confidences.get)
    assert tracks.categories[best] == "Normal" and tracks.confidences[best] > 0.5
    assert tracks.instance_ids.shape == astronaut_clip.shape[:3] and tracks.instance_ids.dtype == np.int32
    assert sorted(tracks.categories) == list(range(1, len(tracks.categories) + 1))
    for frame, ids in enumerate(tracks.instance_ids):      # one id on her face in every frame (box-derived masks)
        assert ids[120, 200 + 6 * frame] == best
    assert (tracks.instance_ids == 0).any()
    again = specialist.run(astronaut_clip)                # a fresh tracker per call: same ids again
    assert np.array_equal(again.instance_ids, tracks.instance_ids)


def test_closed_set_classes_filter_and_unknown_names_fail_when_the_model_loads(astronaut_clip):
    only_falls = DetectionSpecialist(DetectorConfig(weights=fall_detector_weights(), classes=["Fall"]), device="cpu")
    assert set(only_falls.run(astronaut_clip).categories.values()) <= {"Fall"}
    with pytest.raises(ValueError, match=r"cannot detect \['car'\].*\['Fall', 'Normal'\]"):
        DetectionSpecialist(DetectorConfig(weights=fall_detector_weights(), classes=["car"]), device="cpu").setup()


def test_detector_that_finds_nothing_gives_empty_tracks(tmp_path, astronaut_clip):
    specialist = DetectionSpecialist(DetectorConfig(weights=random_yolo_yaml(tmp_path, "yolov8n-seg.yaml")),
                                     device="cpu")
    tracks = specialist.run(astronaut_clip[:2])
    assert tracks.categories == {} and tracks.confidences == {}
    assert tracks.instance_ids.shape == (2, 512, 512) and not tracks.instance_ids.any()


def test_missing_detector_weights_are_unavailable(tmp_path):
    with pytest.raises(SpecialistUnavailable, match=r"yolo: no weights at .*/best\.pt; .*not accepted"):
        DetectionSpecialist(DetectorConfig(weights=tmp_path / "best.pt"))
