"""Reading a dataset's frame images: RGB, millimetre depth PNGs and binary masks, each checked against the size its
dataset says, every problem a SourceError that names the file (and `where` it is referenced from)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from sources.contract import SourceError

MM_PER_M = 1000.0
_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def read_rgb(path: Path, size: tuple[int, int] | None = None, expected: str = "", where: str | None = None
             ) -> np.ndarray:
    """uint8 RGB [H, W, 3] from an 8-bit image (grey, BGR or BGRA on disk); `size` (width, height) is checked,
    `expected` saying where it comes from."""
    image = _read(path, where)
    if image.dtype != np.uint8:
        raise SourceError(f"{where or path}: {image.dtype} pixels, expected 8-bit")
    if image.ndim == 2:
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    else:
        image = cv2.cvtColor(image, cv2.COLOR_BGRA2RGB if image.shape[2] == 4 else cv2.COLOR_BGR2RGB)
    check_size(image, size, "image", expected, where or str(path))
    return image


def read_depth_mm(path: Path, size: tuple[int, int], expected: str, where: str | None = None) -> np.ndarray:
    """Depth in metres (float32, 0 = none) from a single-channel uint16 PNG in millimetres of `size`."""
    depth = _read(path, where)
    if depth.dtype != np.uint16 or depth.ndim != 2:
        raise SourceError(f"{where or path}: depth is {depth.dtype} with {1 if depth.ndim == 2 else depth.shape[2]} "
                          f"channel(s), expected a single-channel uint16 PNG in millimetres")
    check_size(depth, size, "depth", expected, where or str(path))
    return depth.astype(np.float32) / np.float32(MM_PER_M)


def read_binary_mask(path: Path, size: tuple[int, int], expected: str) -> np.ndarray:
    """True where an 8-bit single-channel mask is above half (foreground), of `size`."""
    mask = _read(path, None)
    if mask.ndim != 2 or mask.dtype != np.uint8:
        channels = 1 if mask.ndim == 2 else mask.shape[2]
        raise SourceError(f"{path}: mask image mode {_MODES.get(channels, f'{channels}-channel')} {mask.dtype}, "
                          f"expected an 8-bit binary mask")
    check_size(mask, size, "mask", expected, str(path))
    return mask > 127


def check_size(image: np.ndarray, size: tuple[int, int] | None, what: str, expected: str, where: str) -> None:
    """SourceError when `image` is not `size` (width, height)."""
    if size is not None and (image.shape[1], image.shape[0]) != tuple(size):
        raise SourceError(f"{where}: {what} is {image.shape[1]}×{image.shape[0]}, {expected} {size[0]}×{size[1]}")


def _read(path: Path, where: str | None) -> np.ndarray:
    where = where or str(path)
    if not path.is_file():
        raise SourceError(f"{where}: missing")
    try:
        image = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    except (OSError, cv2.error) as err:
        raise SourceError(f"{where}: unreadable image ({err})") from None
    if image is None:
        raise SourceError(f"{where}: unreadable image")
    return image
