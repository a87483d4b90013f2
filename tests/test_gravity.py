"""Gravity estimated from camera poses, for sources whose world has no up (WildRGB-D SLAM, DL3DV COLMAP)."""

from __future__ import annotations

import numpy as np
import pytest

from sources.gravity import estimate_up


def _camera(position, yaw_deg: float, pitch_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """OpenCV camera-to-world in a z-up world: looking along yaw, tilted by pitch (negative: down), rolled."""
    yaw, pitch, roll = np.radians([yaw_deg, pitch_deg, roll_deg])
    forward = np.array([np.cos(pitch) * np.cos(yaw), np.cos(pitch) * np.sin(yaw), np.sin(pitch)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    down = np.cross(forward, right)
    c, s = np.cos(roll), np.sin(roll)
    right, down = c * right + s * down, -s * right + c * down
    pose = np.eye(4)
    pose[:3, :3] = np.stack([right, down, forward], axis=1)
    pose[:3, 3] = position
    return pose


def _angle_to_z(up: np.ndarray, world: np.ndarray = np.eye(3)) -> float:
    return float(np.degrees(np.arccos(np.clip(up @ world[:, 2], -1.0, 1.0))))


def test_an_orbit_that_bobs_and_looks_down_gives_gravity_exactly():
    poses = np.stack([_camera([np.cos(a), np.sin(a), 0.4 + 0.2 * np.sin(3 * a)], np.degrees(a) + 180.0,
                              -35.0 + 10 * np.cos(2 * a)) for a in np.linspace(0, 2 * np.pi, 20)])
    assert _angle_to_z(estimate_up(poses)) < 1e-6


def test_a_level_survey_flight_that_never_turns_is_not_fooled_by_its_pitch():
    poses = np.stack([_camera([x, 0.0, 120.0], 0.0, -60.0) for x in np.linspace(0, 200, 10)])
    assert _angle_to_z(estimate_up(poses)) < 1e-6
    assert _angle_to_z(-poses[:, :3, 1].mean(0) / np.linalg.norm(poses[:, :3, 1].mean(0))) > 59  # the naive answer


def test_handheld_roll_jitter_stays_within_a_degree():
    rng = np.random.default_rng(0)
    poses = np.stack([_camera([np.cos(a), np.sin(a), 0.3], np.degrees(a) + 180.0, -30.0, rng.normal(0, 3))
                      for a in np.linspace(0, 1.5 * np.pi, 30)])
    assert _angle_to_z(estimate_up(poses)) < 1.0


@pytest.mark.parametrize("turn", [np.eye(3), np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])])
def test_the_answer_follows_the_world_not_the_axes(turn):
    """A COLMAP-like world whose up is −y: the estimate is the rotated up, with the right sign."""
    poses = np.stack([_camera([np.cos(a), np.sin(a), 0.0], np.degrees(a) + 90.0, -10.0)
                      for a in np.linspace(0, np.pi, 8)])
    moved = np.einsum("ij,njk->nik", np.block([[turn, np.zeros((3, 1))], [np.zeros((1, 3)), np.ones((1, 1))]]),
                      poses)
    assert np.allclose(estimate_up(moved), turn[:, 2], atol=1e-6)


@pytest.mark.parametrize("n", [1, 2])
def test_one_or_two_cameras_still_give_an_up(n):
    poses = np.stack([_camera([float(i), 0.0, 1.0], 0.0, -20.0) for i in range(n)])
    assert _angle_to_z(estimate_up(poses)) < 25.0
