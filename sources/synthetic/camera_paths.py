"""Smooth zero-roll camera trajectories, sampled to any number of frames as camera_to_world poses."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sources.synthetic.geometry import camera_pose, direction_from_angles, look_at


class CameraPath(Protocol):
    def poses(self, num_frames: int) -> np.ndarray:
        """camera_to_world poses [num_frames, 4, 4]."""
        ...


@dataclass(frozen=True)
class OrbitPath:
    """Arc around a target at fixed distance and elevation, always looking at the target."""

    target: tuple[float, float, float]
    radius_m: float
    elevation_deg: float
    start_azimuth_deg: float
    arc_deg: float

    def poses(self, num_frames: int) -> np.ndarray:
        elevation = math.radians(self.elevation_deg)
        poses = []
        for s in np.linspace(0.0, 1.0, num_frames):
            azimuth = math.radians(self.start_azimuth_deg + self.arc_deg * s)
            offset = self.radius_m * np.array([math.cos(elevation) * math.cos(azimuth),
                                               math.cos(elevation) * math.sin(azimuth), math.sin(elevation)])
            poses.append(look_at(np.asarray(self.target) + offset, self.target))
        return np.stack(poses)


@dataclass(frozen=True)
class RoomPanPath:
    """Small circle around a room centre, looking across the centre while yawing one full turn over the video."""

    center_xy: tuple[float, float]
    radius_m: float
    height_m: float
    pitch_down_deg: float
    start_yaw_deg: float

    def poses(self, num_frames: int) -> np.ndarray:
        poses = []
        for i in range(num_frames):
            yaw = self.start_yaw_deg + 360.0 * i / num_frames
            eye = (self.center_xy[0] - self.radius_m * math.cos(math.radians(yaw)),
                   self.center_xy[1] - self.radius_m * math.sin(math.radians(yaw)), self.height_m)
            poses.append(camera_pose(eye, direction_from_angles(yaw, self.pitch_down_deg)))
        return np.stack(poses)


@dataclass(frozen=True)
class LinearPath:
    """Straight drive or flight from `start` to `end`; heading swings as swing·sin(2π·cycles·s + phase)."""

    start: tuple[float, float, float]
    end: tuple[float, float, float]
    heading_deg: float
    pitch_down_deg: float
    yaw_swing_deg: float = 0.0
    yaw_cycles: float = 0.0
    yaw_phase_deg: float = 0.0

    def poses(self, num_frames: int) -> np.ndarray:
        start, end = np.asarray(self.start), np.asarray(self.end)
        poses = []
        for s in np.linspace(0.0, 1.0, num_frames):
            yaw = self.heading_deg + self.yaw_swing_deg * math.sin(
                2 * math.pi * self.yaw_cycles * s + math.radians(self.yaw_phase_deg))
            poses.append(camera_pose(start + (end - start) * s, direction_from_angles(yaw, self.pitch_down_deg)))
        return np.stack(poses)


def frames_seeing(point: np.ndarray, poses: np.ndarray, half_tangents: tuple[float, float],
                  margin: float = 0.85) -> int:
    """Number of poses whose view (shrunk by `margin`) contains a world point."""
    rel = point - poses[:, :3, 3]
    cam = np.einsum("fji,fj->fi", poses[:, :3, :3], rel)
    in_front = cam[:, 2] > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        inside = (np.abs(cam[:, 0] / cam[:, 2]) < margin * half_tangents[0]) & (
            np.abs(cam[:, 1] / cam[:, 2]) < margin * half_tangents[1])
    return int(np.count_nonzero(in_front & inside))


@dataclass(frozen=True)
class TurnPath:
    """A camera standing still at `eye` and turning: heading from `start_yaw_deg` through `arc_deg` (a short pan
    of a few tens of degrees up to an almost full turn), pitched `pitch_down_deg` below horizontal."""

    eye: tuple[float, float, float]
    start_yaw_deg: float
    arc_deg: float
    pitch_down_deg: float

    def poses(self, num_frames: int) -> np.ndarray:
        return np.stack([camera_pose(self.eye, direction_from_angles(self.start_yaw_deg + self.arc_deg * s,
                                                                      self.pitch_down_deg))
                         for s in np.linspace(0.0, 1.0, num_frames)])
