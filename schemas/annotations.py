"""Models of the annotated scene layout: what a source with native annotations provides per video.

Layout of one annotated scene directory (written by the synthetic generator, read by the annotated adapter)::

    <scene_dir>/
      video.mp4        H.264 video (or frames/000000.png ... instead)
      depth.npz        array "depth": float16/float32 [T, H, W], metric depth along the camera axis in
                       `depth_unit`; 0 (or NaN) where nothing was hit
      masks.npz        array "masks": uint16 [T, H, W], instance id per pixel, 0 = no object
      cameras.json     CameraTrack: intrinsics, one camera_to_world pose per frame (OpenCV axes)
      scene.json       SceneAnnotation: tier, objects with categories and 3D oriented boxes, regions

Everything in scene.json/cameras.json is in metres and degrees unless `depth_unit` says otherwise for depth. Every
number must be finite (JSON's `Infinity` and `NaN` are refused, naming the field), every extent of an object's box
positive (of a region's, not negative), `up` a non-zero vector and each object's `instance_id` listed once.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.tiers import ScaleTier

Vec3 = tuple[float, float, float]
Matrix4 = tuple[tuple[float, float, float, float], ...]

VIDEO_FILE = "video.mp4"
FRAMES_DIR = "frames"
DEPTH_FILE = "depth.npz"
MASKS_FILE = "masks.npz"
CAMERAS_FILE = "cameras.json"
SCENE_FILE = "scene.json"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Intrinsics(_Strict):
    fx: float = Field(gt=0)
    fy: float = Field(gt=0)
    cx: float
    cy: float
    width: int = Field(gt=0)
    height: int = Field(gt=0)


class CameraFrame(_Strict):
    index: int = Field(ge=0)
    camera_to_world: Matrix4 = Field(description="4×4 row-major; camera axes x right, y down, z forward")


class CameraTrack(_Strict):
    fps: float = Field(gt=0)
    intrinsics: Intrinsics
    depth_unit: Literal["m", "cm", "mm"] = "m"
    frames: list[CameraFrame]


class OrientedBox(_Strict):
    """Gravity-aligned box: centre in world metres, size (length ≥ width along yaw, height along up)."""

    center: Vec3
    size: Vec3
    yaw_deg: float = 0.0

    @field_validator("size")
    @classmethod
    def _not_negative(cls, size: Vec3) -> Vec3:
        if min(size) < 0:
            raise ValueError(f"a negative extent in {list(size)}")
        return size


class ObjectAnnotation(_Strict):
    instance_id: int = Field(ge=1, le=65535)
    category: str = Field(min_length=1)
    box: OrientedBox

    @field_validator("box")
    @classmethod
    def _solid(cls, box: OrientedBox) -> OrientedBox:
        if min(box.size) <= 0:
            raise ValueError(f"an object's box needs every extent positive, got size {list(box.size)}")
        return box


class RegionAnnotation(_Strict):
    """A scene region with exact extents: a room (indoor) or the surveyed area (drone, outdoor)."""

    kind: Literal["room", "survey_area", "street"]
    box: OrientedBox


class SceneAnnotation(_Strict):
    scene_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    tier: ScaleTier | None = None
    source: str = "annotated"
    seed: int | None = None
    up: Vec3 = (0.0, 0.0, 1.0)
    objects: list[ObjectAnnotation]
    regions: list[RegionAnnotation] = []

    @field_validator("up")
    @classmethod
    def _nonzero(cls, up: Vec3) -> Vec3:
        if math.hypot(*up) < 1e-9:
            raise ValueError(f"gravity up must be a non-zero vector, got {list(up)}")
        return up

    @field_validator("objects")
    @classmethod
    def _distinct_ids(cls, objects: list[ObjectAnnotation]) -> list[ObjectAnnotation]:
        ids = [obj.instance_id for obj in objects]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"instance_id {', '.join(map(str, repeated))} listed more than once")
        return objects
