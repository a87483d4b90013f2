"""Detection and tracking with ultralytics: YOLO (or YOLO-World prompts via `set_classes`) plus its ByteTrack /
BoT-SORT tracker, giving per-frame instance-id maps whose ids are stable across one video's keyframes.

Masks come from the model where it is a -seg model, otherwise from the boxes. Detection is the batched, model-bound
step (it is what a Ray actor runs); tracking links the detections of one video in order on the caller's side, with a
fresh tracker per video.
"""

from __future__ import annotations

import os
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from runtime.offline import quiet_environment
from schemas.specialists import DetectorConfig
from specialists.contract import (
    Specialist,
    SpecialistSpec,
    check_frames,
    register_specialist,
    require_weights,
    weights_sha256,
)

NAME = "yolo"
_HOW = ("set `detector.weights` in the specialist profile to a local ultralytics .pt file (or a shipped model "
        "yaml for an untrained model); hub names such as yolov8n.pt would be downloaded and are not accepted")


@dataclass
class Tracks:
    instance_ids: np.ndarray
    """int32 [N, H, W]; 0 = background, k ≥ 1 = track id, stable across frames."""
    categories: dict[int, str]
    confidences: dict[int, float]


@dataclass(frozen=True)
class FrameDetections:
    """One frame's detections in frame pixels; masks only from a -seg model."""

    boxes_xyxy: np.ndarray      # float32 [k, 4]
    confidences: np.ndarray     # float32 [k]
    class_ids: np.ndarray       # int32 [k]
    masks: np.ndarray | None    # bool [k, H, W]


def ultralytics_environment() -> None:
    """Offline switches plus a writable YOLO_CONFIG_DIR; must run before ultralytics is imported."""
    quiet_environment()
    config_dir = Path(os.environ.setdefault("YOLO_CONFIG_DIR",
                                            str(Path(tempfile.gettempdir()) / "spacevista-ultralytics")))
    config_dir.mkdir(parents=True, exist_ok=True)


@register_specialist
class DetectionSpecialist(Specialist):
    """One ultralytics model; `process` detects in a batch, `finish` links one whole video's detections."""

    role = "detection"
    name = NAME

    def __init__(self, config: DetectorConfig, device: str | None = None):
        weights = require_weights(NAME, config.weights, _HOW)
        self.config, self.device = config, device
        self.spec = SpecialistSpec.create(
            NAME, weights.name, weights_sha256(weights),
            {"classes": config.classes, "confidence": config.confidence, "tracker": config.tracker,
             "image_size": config.image_size}, num_gpus=config.num_gpus, batch_size=config.batch_size)
        self.model = None
        self.keep_class_ids: list[int] | None = None
        self.names: dict[int, str] = {}

    def setup(self) -> None:
        """Load the model; closed-set class names the profile asks for that it cannot detect are a ValueError."""
        if self.model is not None:
            return
        ultralytics_environment()
        import torch  # noqa: PLC0415
        from ultralytics import YOLO  # noqa: PLC0415

        self.device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        model = YOLO(str(self.config.weights))
        if self.config.classes and callable(getattr(model, "set_classes", None)):
            model.set_classes(self.config.classes)
        elif self.config.classes:
            self.keep_class_ids = _class_ids(model.names, self.config.classes, self.config.weights)
        self.names = dict(model.names)
        self.model = model

    def process(self, batch: np.ndarray) -> tuple[dict[int, str], list[FrameDetections]]:
        """One batch of RGB frames → the model's class names and the frames' detections (ultralytics wants BGR)."""
        batch = check_frames(batch, NAME)
        self.setup()
        results = self.model.predict([np.ascontiguousarray(frame[..., ::-1]) for frame in batch],
                                     conf=self.config.confidence, imgsz=self.config.image_size,
                                     classes=self.keep_class_ids, device=self.device,
                                     quantize="fp16" if self.device.startswith("cuda") else None,
                                     retina_masks=True, verbose=False)
        return self.names, [_frame_detections(result) for result in results]

    def finish(self, frames: np.ndarray, outputs: list[tuple[dict[int, str], list[FrameDetections]]]) -> Tracks:
        """One video's keyframes in order → tracks (a fresh tracker for every video)."""
        names = outputs[0][0] if outputs else {}
        return link_tracks(frames, [found for _, batch in outputs for found in batch], self.config.tracker, names)


def link_tracks(frames: np.ndarray, detections: list[FrameDetections], tracker: str,
                names: dict[int, str]) -> Tracks:
    """Run a fresh ultralytics tracker over one video's per-frame detections and paint instance-id maps.

    Track ids are renumbered 1, 2, … in order of first appearance; a track's category is its most frequent class
    and its confidence the mean matched detection score. Where instances overlap, the smaller one is painted on top.
    """
    ultralytics_environment()
    from ultralytics.engine.results import Boxes  # noqa: PLC0415
    from ultralytics.trackers.track import TRACKER_MAP  # noqa: PLC0415
    from ultralytics.utils import YAML, IterableSimpleNamespace  # noqa: PLC0415
    from ultralytics.utils.checks import check_yaml  # noqa: PLC0415

    if len(frames) != len(detections):
        raise ValueError(f"{NAME}: {len(frames)} frames but detections for {len(detections)}")
    settings = IterableSimpleNamespace(**YAML.load(check_yaml(f"{tracker}.yaml")))
    linker = TRACKER_MAP[settings.tracker_type](args=settings)
    height, width = frames.shape[1:3]
    instance_ids = np.zeros(frames.shape[:3], dtype=np.int32)
    renumber: dict[int, int] = {}
    classes: dict[int, Counter] = defaultdict(Counter)
    scores: dict[int, list[float]] = defaultdict(list)
    for index, (frame, found) in enumerate(zip(frames, detections)):
        table = np.concatenate([found.boxes_xyxy, found.confidences[:, None], found.class_ids[:, None]], axis=1)
        rows = linker.update(Boxes(table, (height, width)), np.ascontiguousarray(frame[..., ::-1]))
        painted = []
        for x1, y1, x2, y2, raw_id, score, class_id, detection in rows:
            track_id = renumber.setdefault(int(raw_id), len(renumber) + 1)
            classes[track_id][int(class_id)] += 1
            scores[track_id].append(float(score))
            painted.append((track_id, _instance_mask(found, int(detection), (x1, y1, x2, y2), height, width)))
        for track_id, mask in sorted(painted, key=lambda item: -int(item[1].sum())):
            instance_ids[index][mask] = track_id
    categories = {track: names[counts.most_common(1)[0][0]] for track, counts in classes.items()}
    confidences = {track: float(np.mean(values)) for track, values in scores.items()}
    return Tracks(instance_ids=instance_ids, categories=categories, confidences=confidences)


def _instance_mask(found: FrameDetections, detection: int, box: tuple[float, ...], height: int,
                   width: int) -> np.ndarray:
    """The model's mask for a -seg model, else the tracked box filled."""
    if found.masks is not None:
        return found.masks[detection]
    mask = np.zeros((height, width), dtype=bool)
    x1, y1 = max(0, int(np.floor(box[0]))), max(0, int(np.floor(box[1])))
    x2, y2 = min(width, int(np.ceil(box[2]))), min(height, int(np.ceil(box[3])))
    mask[y1:y2, x1:x2] = True
    return mask


def _frame_detections(result) -> FrameDetections:
    boxes = result.boxes.cpu().numpy()
    masks = result.masks.data.cpu().numpy() > 0.5 if result.masks is not None else None
    return FrameDetections(boxes_xyxy=boxes.xyxy.astype(np.float32), confidences=boxes.conf.astype(np.float32),
                           class_ids=boxes.cls.astype(np.int32), masks=masks)


def _class_ids(names: dict[int, str], wanted: list[str], weights: Path) -> list[int]:
    """Class ids of a closed-set model for the requested names; unknown names are a configuration error."""
    by_name = {name: class_id for class_id, name in names.items()}
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        raise ValueError(f"{NAME}: {weights} cannot detect {unknown} (it is a closed-set model without "
                         f"set_classes; its classes are {sorted(by_name)})")
    return [by_name[name] for name in wanted]
