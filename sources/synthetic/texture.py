"""Procedural value-noise texture in surface coordinates, band-limited to the pixel footprint."""

from __future__ import annotations

import numpy as np

OCTAVE_SCALES = (1.0, 4.0, 16.0)
OCTAVE_WEIGHTS = (0.45, 0.35, 0.20)


def _to_unit(h: np.ndarray) -> np.ndarray:
    """Finalise a uint32 hash (arithmetic wraps by design) and map it to [0, 1]."""
    h ^= h >> np.uint32(15)
    h *= np.uint32(0x2C1B3C6D)
    h ^= h >> np.uint32(12)
    h *= np.uint32(0x297A2D39)
    h ^= h >> np.uint32(15)
    return h.astype(np.float32) * np.float32(2.0**-32)


def value_noise(u: np.ndarray, v: np.ndarray, cell_m: np.ndarray, seed: np.ndarray) -> np.ndarray:
    """Smooth value noise in [0, 1] with lattice spacing `cell_m` (all arguments per sample)."""
    x, y = u / cell_m, v / cell_m
    x0, y0 = np.floor(x), np.floor(y)
    fx, fy = (x - x0).astype(np.float32), (y - y0).astype(np.float32)
    fx, fy = fx * fx * (3 - 2 * fx), fy * fy * (3 - 2 * fy)
    hx = x0.astype(np.int64).astype(np.uint32) * np.uint32(0x9E3779B1)
    hy = y0.astype(np.int64).astype(np.uint32) * np.uint32(0x85EBCA77) + seed * np.uint32(0xC2B2AE3D)
    step_x, step_y = np.uint32(0x9E3779B1), np.uint32(0x85EBCA77)
    top = _to_unit(hx + hy) * (1 - fx) + _to_unit(hx + step_x + hy) * fx
    bottom = _to_unit(hx + hy + step_y) * (1 - fx) + _to_unit(hx + step_x + hy + step_y) * fx
    return top * (1 - fy) + bottom * fy


def surface_texture(u: np.ndarray, v: np.ndarray, cell_m: np.ndarray, seed: np.ndarray,
                    footprint_m: np.ndarray) -> np.ndarray:
    """Sum of noise octaves in about [-1, 1]; octaves finer than ~3 pixels fade out to avoid aliasing."""
    texture = np.zeros(u.shape, dtype=np.float32)
    for k, (scale, weight) in enumerate(zip(OCTAVE_SCALES, OCTAVE_WEIGHTS)):
        cell = cell_m * scale
        fade = np.clip((cell / footprint_m - 1.5) / 1.5, 0.0, 1.0).astype(np.float32)
        noise = value_noise(u, v, cell, seed + np.uint32(101 * k))
        texture += np.float32(2 * weight) * fade * (noise - np.float32(0.5))
    return texture
