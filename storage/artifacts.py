"""Content-addressed artifacts (keyframe images, object masks): the path is the sha256 of the encoded bytes."""

from __future__ import annotations

import hashlib

import cv2
import numpy as np

from storage.filesystem import exists, read_bytes, write_bytes
from storage.layout import OutputLayout


def put_bytes(layout: OutputLayout, kind: str, data: bytes, suffix: str) -> tuple[str, str]:
    """Store bytes once; returns (sha256, path relative to the output root). Same bytes → same path."""
    sha = hashlib.sha256(data).hexdigest()
    path = layout.artifact(kind, sha, suffix)
    if not exists(layout.fs, path):
        write_bytes(layout.fs, path, data)
    return sha, layout.relative(path)


def read_artifact(layout: OutputLayout, relative: str) -> bytes:
    """The bytes of a stored artifact, named as `put_bytes` returned it (relative to the output root)."""
    return read_bytes(layout.fs, layout.path(relative))


def put_frame(layout: OutputLayout, rgb: np.ndarray) -> tuple[str, str]:
    """A keyframe as JPEG (quality 95)."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 95])
    if not ok:
        raise ValueError(f"could not encode a {rgb.shape} frame as JPEG")
    return put_bytes(layout, "frames", encoded.tobytes(), ".jpg")


def put_mask(layout: OutputLayout, mask: np.ndarray) -> str:
    """A binary object mask as a 1-bit-valued PNG (0/255); returns its path relative to the output root."""
    ok, encoded = cv2.imencode(".png", mask.astype(np.uint8) * 255)
    if not ok:
        raise ValueError(f"could not encode a {mask.shape} mask as PNG")
    return put_bytes(layout, "masks", encoded.tobytes(), ".png")[1]
