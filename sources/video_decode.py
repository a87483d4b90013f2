"""Video probing and keyframe decoding: decord for video files, OpenCV for a folder of frame images."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


class VideoDecodeError(RuntimeError):
    """A video that cannot be opened or decoded; the message names the file and what went wrong."""


@dataclass(frozen=True)
class VideoProbe:
    fps: float
    n_frames: int
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.n_frames / self.fps


def _reader(path: Path):
    import decord  # noqa: PLC0415 (decord prints to stderr at import; keep it off the CLI's import path)

    if path.stat().st_size == 0:
        raise VideoDecodeError(f"{path}: file is empty (0 bytes)")
    try:
        return decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=1)
    except (RuntimeError, decord.DECORDError) as err:
        raise VideoDecodeError(f"{path}: not a readable video ({_first_line(err)})") from None


FRAME_SUFFIXES = (".png", ".jpg", ".jpeg")


def probe_video(path: Path, fps: float | None = None) -> VideoProbe:
    """fps, frame count and resolution; a clear VideoDecodeError for empty, truncated or non-video files.
    A directory is a frame sequence, which carries no fps of its own: `fps` must be given for it."""
    if path.is_dir():
        return probe_frames(frame_files(path), fps, path)
    reader = _reader(path)
    n_frames, fps = len(reader), float(reader.get_avg_fps())
    if n_frames < 1 or not fps > 0:
        raise VideoDecodeError(f"{path}: no decodable frames (frames={n_frames}, fps={fps})")
    height, width = reader[0].shape[:2]
    return VideoProbe(fps=fps, n_frames=n_frames, width=int(width), height=int(height))


def sample_keyframes(n_frames: int, stride: int, max_keyframes: int) -> list[int]:
    """Every `stride`-th frame from 0, thinned evenly to at most `max_keyframes`."""
    indices = list(range(0, n_frames, stride))
    if len(indices) > max_keyframes:
        indices = [indices[round(i)] for i in np.linspace(0, len(indices) - 1, max_keyframes)]
    return indices


def decode_frames(path: Path, indices: list[int]) -> np.ndarray:
    """RGB uint8 frames [N, H, W, 3] at the given indices."""
    if path.is_dir():
        return decode_images(frame_files(path), indices)
    reader = _reader(path)
    try:
        return reader.get_batch(indices).asnumpy()
    except Exception as err:  # decord raises bare DECORDError/RuntimeError subclasses mid-stream
        raise VideoDecodeError(f"{path}: decoding frames {indices[0]}…{indices[-1]} failed "
                               f"({_first_line(err)})") from None


def frame_files(folder: Path) -> list[Path]:
    """The frame images of a sequence folder, in name order (hidden names, e.g. `._000001.png`, are not frames)."""
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in FRAME_SUFFIXES and not p.name.startswith("."))


def probe_frames(files: list[Path], fps: float | None, folder: Path) -> VideoProbe:
    """A frame sequence's probe: its frame count, the first image's size and `fps` from the source's metadata."""
    if not files:
        raise VideoDecodeError(f"{folder}: no frame images ({', '.join(FRAME_SUFFIXES)})")
    if not fps or fps <= 0:
        raise VideoDecodeError(f"{folder}: a frame folder needs its fps from the source's metadata")
    height, width = _read_image(files[0]).shape[:2]
    return VideoProbe(fps=float(fps), n_frames=len(files), width=int(width), height=int(height))


def decode_images(files: list[Path], indices: list[int]) -> np.ndarray:
    """RGB uint8 frames [N, H, W, 3] of a frame sequence at the given indices; VideoDecodeError naming the file
    whose size differs from the first one read."""
    images = []
    for i in indices:
        image = _read_image(files[i])
        if images and image.shape != images[0].shape:
            raise VideoDecodeError(f"{files[i]}: frame {i} is {image.shape[1]}×{image.shape[0]}, frame {indices[0]} "
                                   f"({files[indices[0]].name}) is {images[0].shape[1]}×{images[0].shape[0]}; "
                                   f"a sequence's frames must share one size")
        images.append(image)
    return np.stack(images)


def _read_image(path: Path) -> np.ndarray:
    import cv2  # noqa: PLC0415

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise VideoDecodeError(f"{path}: not a readable image")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
