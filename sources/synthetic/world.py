"""What the renderer needs beyond the annotation: materials, ground, room shell, light, sky, camera path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from schemas.annotations import ObjectAnnotation, OrientedBox, RegionAnnotation, SceneAnnotation
from sources.synthetic.camera_paths import CameraPath

RGB = tuple[float, float, float]


@dataclass(frozen=True)
class Material:
    """Base colour (RGB in [0, 1]) modulated by procedural noise of relative strength `contrast`."""

    color: RGB
    contrast: float = 0.45
    cell_scale: float = 1.0


@dataclass(frozen=True)
class GroundPatch:
    """A rectangle of the ground plane (footprint of `area`) with its own material; later patches cover earlier."""

    area: OrientedBox
    material: Material


@dataclass(frozen=True)
class RoomShell:
    """Interior of a room (axis-aligned `box`, the camera inside): floor, walls and ceiling."""

    box: OrientedBox
    floor: Material
    walls: Material
    ceiling: Material


@dataclass(frozen=True)
class World:
    """Render-only surroundings of the annotated objects."""

    texture_cell_m: float
    light_dir: tuple[float, float, float]
    sky_zenith: RGB
    sky_horizon: RGB
    ground_half_size_m: float | None = None
    ground: tuple[GroundPatch, ...] = ()
    room: RoomShell | None = None


@dataclass(frozen=True)
class SceneContent:
    """What a tier recipe produces: annotated objects and regions plus how to render and film them."""

    objects: list[ObjectAnnotation]
    regions: list[RegionAnnotation]
    object_materials: Mapping[int, Material]
    world: World
    camera_path: CameraPath


@dataclass(frozen=True)
class SyntheticScene:
    """One generated scene: its exact annotation and everything needed to render it."""

    annotation: SceneAnnotation
    object_materials: Mapping[int, Material]
    world: World
    camera_path: CameraPath
