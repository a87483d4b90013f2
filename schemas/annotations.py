"""Models of the annotated scene layout: what a source with native annotations provides per video.

Layout of one annotated scene directory (written by the synthetic generator, read by the annotated adapter)::

    <scene_dir>/
      video.mp4        H.264 video (or frames/000000.png ... instead)
      depth.npz        array "depth": float16/float32 [T, H, W], metric depth along the camera axis in
                       `depth_unit`; 0 (or NaN) where nothing was hit
      masks.npz        array "masks": uint16 [T, H, W], instance id per pixel, 0 = no object
      cameras.json     CameraTrack: intrinsics, one camera_to_world pose per frame (OpenCV axes)
      scene.json       SceneAnnotation: tier, objects with categories and 3D oriented boxes, regions

Everything in scene.json/cameras.json is in metres and degrees unless `depth_unit` says otherwise for depth.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

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
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class ObjectAnnotation(_Strict):
    instance_id: int = Field(ge=1, le=65535)
    category: str = Field(min_length=1)
    box: OrientedBox


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
