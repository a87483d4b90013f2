"""The Source contract: a registered reader of one on-disk dataset format.

A source finds the items (videos or scenes) under a data root and reads one item's keyframes into `SceneInputs`:
the RGB frames plus every modality the dataset has natively, converted once, inside the source's own module, to
the canonical form: metres (or the source's own unit with `metric = False`), OpenCV camera-to-world poses in a
world whose `up` is gravity, pixel intrinsics for the frames as read, depth as float32 metres with 0 = invalid,
and 3D boxes as centre, full size and box-to-world rotation. Dataset conventions live in that module and nowhere
else; the pipeline fills whatever a source lacks with specialists (pipeline/fill.py).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import ClassVar

import numpy as np

from schemas.annotations import Intrinsics
from schemas.tiers import ScaleTier
from sources.discovery import VideoItem
from sources.video_decode import sample_keyframes

ROTATION_TOLERANCE = 1e-3


class SourceError(ValueError):
    """An item a source cannot read: the message names the file, the field and the problem."""


class Modality(str, Enum):
    """What a source may provide natively; whatever it lacks, a specialist role fills (or a task is gated)."""

    INTRINSICS = "intrinsics"
    POSES = "poses"
    DEPTH = "depth"
    INSTANCES = "instances"
    BOXES = "boxes"
    CATEGORIES = "categories"
    GRAVITY = "gravity"
    METRIC = "metric"


@dataclass(frozen=True)
class NativeBox:
    """An annotated 3D box in the source's world: centre (m), full lengths along its own axes (m), and the
    box-to-world rotation whose columns are those axes."""

    instance_id: int
    category: str
    center: np.ndarray  # [3]
    size: np.ndarray  # [3]
    rotation: np.ndarray  # [3, 3]

    def corners(self) -> np.ndarray:
        """The 8 corners [8, 3] in world coordinates."""
        signs = np.array([[sx, sy, sz] for sx in (-1, 1) for sy in (-1, 1) for sz in (-1, 1)], dtype=float)
        return self.center + (signs * self.size / 2.0) @ self.rotation.T


@dataclass(frozen=True)
class SceneInputs:
    """One item's keyframes and native modalities, in canonical form. Every modality is optional (None when the
    source lacks it) and named with its producer in `provenance` (`native:<dataset>/<file>` or a specialist)."""

    scene_id: str
    source: str
    frame_indices: list[int]
    timestamps_s: list[float]
    rgb: np.ndarray  # uint8 [K, H, W, 3] at the keyframes
    fps: float
    n_frames: int  # frames in the whole item (keyframes are a subset)
    content: list[Path]  # the files whose bytes identify the item (its video, or all its frame images)
    tier: ScaleTier | None = None
    intrinsics: Intrinsics | None = None  # pixel K for `rgb`'s resolution
    camera_to_world: np.ndarray | None = None  # [K, 4, 4], OpenCV axes
    depth_m: np.ndarray | None = None  # float32 [K, H, W], 0 = invalid
    depth_dense: bool = True  # False for sparse depth (LiDAR points): fit for occlusion tests, not for lifting
    instance_ids: np.ndarray | None = None  # uint16 [K, H, W], 0 = none
    frame_instance_ids: np.ndarray | None = None  # uint16 [n_frames, H, W]: every frame's, where the source has them
    categories: dict[int, str] = field(default_factory=dict)
    boxes: list[NativeBox] | None = None
    up: np.ndarray | None = None  # gravity up in the world; None where the source does not define it
    metric: bool = True  # poses (and depth) in metres; False for SfM units
    provenance: dict[Modality, str] = field(default_factory=dict)

    def has(self, modality: Modality) -> bool:
        return modality in self.provenance

    def with_modality(self, modality: Modality, producer: str, **values) -> SceneInputs:
        """A copy with `values` set (e.g. depth_m=...) and `modality` credited to `producer`."""
        return replace(self, provenance={**self.provenance, modality: producer}, **values)


@dataclass(frozen=True)
class KeyframePolicy:
    """Which frames of an item become keyframes: every `stride`-th, thinned evenly to `max_keyframes`."""

    stride: int
    max_keyframes: int

    def select(self, n_frames: int) -> list[int]:
        return sample_keyframes(n_frames, self.stride, self.max_keyframes)


class Source(ABC):
    """A dataset format. Subclasses set `name`, `native` (the modalities it provides) and `description`, and
    register with `@register_source`."""

    name: ClassVar[str]
    native: ClassVar[frozenset[Modality]]
    description: ClassVar[str]
    default_tier: ClassVar[ScaleTier | None] = None
    """The dataset's tier where nothing more specific says (a manifest row's `tier`, a tier-named folder above the
    item); None leaves it to the measured extent."""

    @abstractmethod
    def detect(self, root: Path) -> bool:
        """True when `root` holds this format's layout (cheap: a few stat calls)."""

    @abstractmethod
    def discover(self, root: Path) -> Iterator[VideoItem]:
        """Every item under `root`, in a stable order."""

    @abstractmethod
    def read(self, root: Path, item: VideoItem, policy: KeyframePolicy) -> SceneInputs:
        """The item's keyframes and native modalities; SourceError (naming file and field) on bad input."""


_SOURCES: dict[str, Source] = {}


def register_source(cls: type[Source]) -> type[Source]:
    """Class decorator: register one instance of `cls` under `cls.name`; a second source of that name is refused."""
    if cls.name in _SOURCES:
        raise ValueError(f"source {cls.name!r} is already registered by {type(_SOURCES[cls.name]).__name__}")
    _SOURCES[cls.name] = cls()
    return cls


def checked_rotation(matrix: np.ndarray, where: str) -> np.ndarray:
    """`matrix` if it is a finite proper rotation, else SourceError naming `where`."""
    matrix = np.asarray(matrix, dtype=float)
    if matrix.shape != (3, 3) or not np.isfinite(matrix).all():
        raise SourceError(f"{where}: not a finite 3×3 matrix ({matrix.shape})")
    error = float(np.abs(matrix.T @ matrix - np.eye(3)).max())
    if error > ROTATION_TOLERANCE or np.linalg.det(matrix) < 0:
        raise SourceError(f"{where}: not a rotation (max |RᵀR − I| = {error:.3g}, det = {np.linalg.det(matrix):.3g})")
    return matrix


def checked_intrinsics(fx: float, fy: float, cx: float, cy: float, width: int, height: int,
                       where: str) -> Intrinsics:
    """Pixel intrinsics, or SourceError naming `where` when a value is non-finite, a focal length is not positive
    (a singular K) or the principal point lies outside the image."""
    values = {"fx": fx, "fy": fy, "cx": cx, "cy": cy}
    for key, value in values.items():
        if not np.isfinite(value):
            raise SourceError(f"{where}: {key} is {value}")
    if fx <= 0 or fy <= 0:
        raise SourceError(f"{where}: singular intrinsics (fx={fx}, fy={fy})")
    if width <= 0 or height <= 0:
        raise SourceError(f"{where}: image size {width}×{height}")
    if not (0 <= cx <= width and 0 <= cy <= height):
        raise SourceError(f"{where}: principal point ({cx}, {cy}) outside the {width}×{height} image")
    return Intrinsics(fx=float(fx), fy=float(fy), cx=float(cx), cy=float(cy), width=int(width), height=int(height))
