"""Vectorised numpy ray caster: ground plane, room shell and oriented boxes → RGB, axial depth, instance masks.

Ray of pixel (u, v): K⁻¹ [u + 0.5, v + 0.5, 1] in the camera (z = 1, so the hit parameter is the depth),
rotated to the world by camera_to_world. Nearest hit wins (z-buffer); nothing hit: sky, depth 0, mask 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from schemas.annotations import Intrinsics, ObjectAnnotation, OrientedBox
from sources.synthetic.geometry import box_corners, yaw_rotation
from sources.synthetic.texture import surface_texture
from sources.synthetic.world import Material, SyntheticScene

SKY = -1
AMBIENT = 0.42
_MIN_COS_INCIDENCE = 0.2
_TINY = 1e-12
_NEAR_M = 1e-6
_BOX_EDGES = np.array([(a, a | bit) for a in range(8) for bit in (1, 2, 4) if not a & bit])  # box_corners order


@dataclass(frozen=True)
class RenderedFrame:
    """One rendered view: colour, exact depth along the optical axis and instance ids."""

    rgb: np.ndarray    # uint8 [H, W, 3]
    depth: np.ndarray  # float32 [H, W]: z in camera coordinates (metres), 0 where nothing was hit
    mask: np.ndarray   # uint16 [H, W]: instance id, 0 for ground, room and sky


class _ZBuffer:
    """Nearest surface per (flattened) pixel: depth, instance, material, face, normal, surface coordinates."""

    def __init__(self, num_pixels: int):
        self.depth = np.full(num_pixels, np.inf, np.float32)
        self.instance = np.zeros(num_pixels, np.uint16)
        self.material = np.full(num_pixels, SKY, np.int64)
        self.face = np.zeros(num_pixels, np.int64)
        self.normal = np.zeros((num_pixels, 3), np.float32)
        self.uv = np.zeros((num_pixels, 2), np.float32)

    def record(self, pixels: np.ndarray, t: np.ndarray, material, face, normal, uv: np.ndarray,
               instance: int = 0) -> None:
        self.depth[pixels] = t
        self.instance[pixels] = instance
        self.material[pixels] = material
        self.face[pixels] = face
        self.normal[pixels] = normal
        self.uv[pixels] = uv


def _other_axes(points: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """The two coordinates of each point other than `axis` (surface coordinates of an axis-normal face)."""
    rows = np.arange(len(points))
    return np.stack([points[rows, (axis + 1) % 3], points[rows, (axis + 2) % 3]], axis=1)


def _near_plane_crossings(corners: np.ndarray) -> np.ndarray:
    """Points where the box edges cross the camera plane z = _NEAR_M (corners in camera coordinates)."""
    a, b = corners[_BOX_EDGES[:, 0]], corners[_BOX_EDGES[:, 1]]
    crossing = (a[:, 2] > _NEAR_M) != (b[:, 2] > _NEAR_M)
    a, b = a[crossing], b[crossing]
    s = (_NEAR_M - a[:, 2]) / (b[:, 2] - a[:, 2])
    return a + s[:, None] * (b - a)


class SceneRenderer:
    """Renders one synthetic scene from any camera_to_world pose."""

    def __init__(self, scene: SyntheticScene, intrinsics: Intrinsics):
        self.scene = scene
        self.world = scene.world
        self.intrinsics = intrinsics
        k = intrinsics
        cols, rows = np.meshgrid(np.arange(k.width), np.arange(k.height))
        self._rays_camera = np.stack([(cols.ravel() + 0.5 - k.cx) / k.fx, (rows.ravel() + 0.5 - k.cy) / k.fy,
                                      np.ones(k.width * k.height)], axis=1).astype(np.float32)
        self._ray_lengths = np.linalg.norm(self._rays_camera, axis=1)
        self._pixel_ids = np.arange(k.width * k.height)
        materials: list[Material] = []

        def register(material: Material) -> int:
            materials.append(material)
            return len(materials) - 1

        self._ground = [(patch.area, register(patch.material)) for patch in self.world.ground]
        room = self.world.room
        self._room_materials = None if room is None else (
            register(room.floor), register(room.walls), register(room.ceiling))
        self._object_materials = {o.instance_id: register(scene.object_materials[o.instance_id])
                                  for o in scene.annotation.objects}
        self._colors = np.array([m.color for m in materials], np.float32)
        self._contrast = np.array([m.contrast for m in materials], np.float32)
        self._cells = np.array([m.cell_scale * self.world.texture_cell_m for m in materials])
        light = np.asarray(self.world.light_dir, np.float32)
        self._light = light / np.linalg.norm(light)

    def render(self, camera_to_world: np.ndarray) -> RenderedFrame:
        k = self.intrinsics
        origin = camera_to_world[:3, 3]
        rays = self._rays_camera @ camera_to_world[:3, :3].T.astype(np.float32)
        zbuffer = _ZBuffer(len(rays))
        if self.world.room is not None:
            self._cast_room(origin, rays, zbuffer)
        if self.world.ground_half_size_m is not None:
            self._cast_ground(origin, rays, zbuffer)
        for obj in self.scene.annotation.objects:
            self._cast_object(obj, camera_to_world, rays, zbuffer)
        rgb = self._shade(rays, zbuffer)
        depth = np.where(np.isfinite(zbuffer.depth), zbuffer.depth, 0.0).astype(np.float32)
        return RenderedFrame(rgb=rgb.reshape(k.height, k.width, 3), depth=depth.reshape(k.height, k.width),
                             mask=zbuffer.instance.reshape(k.height, k.width))

    def _cast_ground(self, origin: np.ndarray, rays: np.ndarray, zbuffer: _ZBuffer) -> None:
        """Finite square ground plane z = 0 of half-size ground_half_size_m, materials from the ground patches."""
        if origin[2] <= 0:
            return
        ox, oy, oz = origin.astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):  # rays at or above the horizon: no hit
            t = -oz / np.minimum(rays[:, 2], np.float32(0.0))
            x, y = ox + t * rays[:, 0], oy + t * rays[:, 1]
        half = self.world.ground_half_size_m
        pixels = np.flatnonzero((np.abs(x) <= half) & (np.abs(y) <= half) & (t < zbuffer.depth))
        xy = np.stack([x[pixels], y[pixels]], axis=1)
        material = np.full(len(pixels), SKY, np.int64)
        for area, index in self._ground:
            rotation = np.ascontiguousarray(yaw_rotation(area.yaw_deg)[:2, :2])
            local = (xy - np.asarray(area.center[:2])) @ rotation
            material[np.all(np.abs(local) <= np.asarray(area.size[:2]) / 2, axis=1)] = index
        covered = material != SKY
        pixels = pixels[covered]
        zbuffer.record(pixels, t[pixels], material[covered], 0, (0.0, 0.0, 1.0), xy[covered])

    def _cast_room(self, origin: np.ndarray, rays: np.ndarray, zbuffer: _ZBuffer) -> None:
        """Exit of the room box seen from inside: floor, walls or ceiling."""
        box = self.world.room.box
        half = np.asarray(box.size) / 2
        rel = origin - np.asarray(box.center)
        d = np.where(np.abs(rays) < _TINY, _TINY, rays)
        t_planes = (np.sign(d) * half - rel) / d
        axis = t_planes.argmin(axis=1)
        rows = np.arange(len(rays))
        t = t_planes[rows, axis]
        sign = np.sign(d[rows, axis])
        normal = np.zeros((len(rays), 3), np.float32)
        normal[rows, axis] = -sign
        floor, walls, ceiling = self._room_materials
        material = np.where(axis < 2, walls, np.where(sign < 0, floor, ceiling))
        points = rel + t[:, None] * rays
        zbuffer.record(rows, t, material, 2 * axis + (sign > 0), normal, _other_axes(points, axis))

    def _cast_object(self, obj: ObjectAnnotation, camera_to_world: np.ndarray, rays: np.ndarray,
                     zbuffer: _ZBuffer) -> None:
        """Entry of the rays into an oriented box (camera outside), tested only where the box projects."""
        region = self._region_covering(obj.box, camera_to_world)
        if region is None:
            return
        box = obj.box
        rotation = yaw_rotation(box.yaw_deg)
        half = np.asarray(box.size, np.float32) / 2
        origin = (rotation.T @ (camera_to_world[:3, 3] - np.asarray(box.center))).astype(np.float32)
        d = rays[region] @ rotation.astype(np.float32)
        with np.errstate(divide="ignore", invalid="ignore"):
            inverse = 1 / d
            t1, t2 = (-half - origin) * inverse, (half - origin) * inverse
        t_near = np.minimum(t1, t2)
        t = t_near.max(axis=1)
        hit = (t <= np.maximum(t1, t2).min(axis=1)) & (t > 0) & (t < zbuffer.depth[region])
        pixels, t, d = self._pixel_ids[region][hit], t[hit], d[hit]
        axis = t_near[hit].argmax(axis=1)
        rows = np.arange(len(pixels))
        sign = -np.sign(d[rows, axis])
        normal_local = np.zeros((len(pixels), 3), np.float32)
        normal_local[rows, axis] = sign
        points = origin + t[:, None] * d
        zbuffer.record(pixels, t, self._object_materials[obj.instance_id], 2 * axis + (sign > 0),
                       normal_local @ rotation.T.astype(np.float32), _other_axes(points, axis),
                       instance=obj.instance_id)

    def _region_covering(self, box: OrientedBox, camera_to_world: np.ndarray) -> np.ndarray | slice | None:
        """Flat pixel indices (or a slice) around the box's projection; all when it spans the camera plane."""
        k = self.intrinsics
        corners = (box_corners(box) - camera_to_world[:3, 3]) @ camera_to_world[:3, :3]
        in_front = corners[:, 2] > _NEAR_M
        if not in_front.any():
            return None
        if not in_front.all():
            corners = np.concatenate([corners[in_front], _near_plane_crossings(corners)])
        u = k.fx * corners[:, 0] / corners[:, 2] + k.cx
        v = k.fy * corners[:, 1] / corners[:, 2] + k.cy
        u0, u1 = max(int(np.floor(u.min())) - 1, 0), min(int(np.ceil(u.max())) + 1, k.width)
        v0, v1 = max(int(np.floor(v.min())) - 1, 0), min(int(np.ceil(v.max())) + 1, k.height)
        if u0 >= u1 or v0 >= v1:
            return None
        if u0 == 0 and u1 == k.width:
            return slice(v0 * k.width, v1 * k.width)
        return (np.arange(v0, v1)[:, None] * k.width + np.arange(u0, u1)[None, :]).ravel()

    def _shade(self, rays: np.ndarray, zbuffer: _ZBuffer) -> np.ndarray:
        """Base colour × noise texture × Lambert term; sky as a vertical gradient."""
        material, normal = zbuffer.material, zbuffer.normal
        cos_incidence = np.abs(np.einsum("ij,ij->i", normal, rays)) / self._ray_lengths
        footprint = (zbuffer.depth * self._ray_lengths / np.float32(self.intrinsics.fx)
                     / np.maximum(cos_incidence, np.float32(_MIN_COS_INCIDENCE)))
        seed = (material * 8 + zbuffer.face).astype(np.uint32)
        texture = surface_texture(zbuffer.uv[:, 0], zbuffer.uv[:, 1], self._cells[material], seed, footprint)
        lambert = AMBIENT + (1 - AMBIENT) * np.clip(normal @ self._light, 0.0, None)
        rgb = self._colors[material] * ((1 + self._contrast[material] * texture) * lambert)[:, None]
        sky = np.flatnonzero(material == SKY)
        if sky.size:
            elevation = np.clip(rays[sky, 2] / self._ray_lengths[sky] * 2.5, 0.0, 1.0)[:, None]
            horizon, zenith = np.asarray(self.world.sky_horizon), np.asarray(self.world.sky_zenith)
            rgb[sky] = horizon + (zenith - horizon) * elevation
        return (np.clip(rgb, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)
