"""The Specialist contract: a model-backed producer of one modality (its role), registered by (role, name).

A specialist is constructed from its profile entry cheaply (its spec hashes the weights; nothing is loaded), so the
caller can hold it; `setup` loads the model(s) once where it runs (in-process or in a Ray actor); `process` is the
batched, model-bound step; `finish` the sequential per-video step on the caller's side (temporal fusion, track
linking). Its resources are data on its spec (`num_gpus`, `batch_size`). One generic runner (specialists/runner.py)
runs any specialist either way. Every spec also declares name, version (model id + weights hash) and parameters.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np


class SpecialistUnavailable(RuntimeError):
    """A specialist cannot run here: its weights are missing or not configured. Nothing is ever downloaded."""


class SpecialistError(RuntimeError):
    """A specialist failed on one input; the message names the input and the problem."""


@dataclass(frozen=True)
class SpecialistSpec:
    name: str
    model_id: str
    weights_sha256: str
    params: tuple[tuple[str, str], ...]
    num_gpus: float = 0.0
    batch_size: int = 1

    @classmethod
    def create(cls, name: str, model_id: str, weights_sha256: str, params: Mapping[str, object],
               num_gpus: float = 0.0, batch_size: int = 1) -> SpecialistSpec:
        """A spec whose params are sorted (key, canonical JSON value) pairs, so equal params hash equally."""
        pairs = tuple(sorted((str(key), json.dumps(value, sort_keys=True)) for key, value in params.items()))
        return cls(name=name, model_id=model_id, weights_sha256=weights_sha256, params=pairs,
                   num_gpus=float(num_gpus), batch_size=int(batch_size))

    @property
    def version(self) -> str:
        return f"{self.model_id}@{self.weights_sha256[:12]}"

    @property
    def params_hash(self) -> str:
        canonical = json.dumps([list(pair) for pair in self.params], separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    @property
    def provenance(self) -> str:
        """The string facts and QA rows record as the producer of a number (schemas.facts.Provenance)."""
        return f"{self.name}:{self.version}#{self.params_hash}"


def require_weights(name: str, path: Path, how: str) -> Path:
    """`path` if it exists, else SpecialistUnavailable naming the specialist, the path and how to provide weights."""
    if not path.exists():
        raise SpecialistUnavailable(f"{name}: no weights at {path}; {how}. Nothing is downloaded.")
    return path


def weights_sha256(path: Path) -> str:
    """sha256 over a weights file, or over every file of a weights directory (relative names and bytes, sorted).
    Remembered per process while no file's size or modification time changes (a profile names a model per tier)."""
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    key = (path.resolve(), tuple((f, f.stat().st_size, f.stat().st_mtime_ns) for f in files))
    if key not in _HASHES:
        _HASHES[key] = _sha256_of(path, files)
    return _HASHES[key]


_HASHES: dict[tuple, str] = {}


def file_sha256(path: Path) -> str:
    """sha256 of one file's bytes, read fresh."""
    return _feed(hashlib.sha256(), path).hexdigest()


def _sha256_of(path: Path, files: list[Path]) -> str:
    digest = hashlib.sha256()
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        _feed(digest, file)
    return digest.hexdigest()


def _feed(digest, file: Path):
    with file.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest


def check_frames(frames: np.ndarray, specialist: str) -> np.ndarray:
    """RGB uint8 frames [N, H, W, 3] with N ≥ 1, or a ValueError naming the specialist and what is wrong."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3 or 0 in frames.shape:
        raise ValueError(f"{specialist}: expected RGB uint8 frames [N, H, W, 3] with N ≥ 1, "
                         f"got {frames.dtype} {frames.shape}")
    return frames


def batches(frames: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Consecutive slices of at most `batch_size` frames."""
    return [frames[start:start + batch_size] for start in range(0, len(frames), batch_size)]


class Specialist(ABC):
    """One model of one role. Subclasses set `role` and `name`, build `spec` in `__init__(config)` without loading
    anything, and register with `@register_specialist`."""

    role: ClassVar[str]
    name: ClassVar[str]
    spec: SpecialistSpec

    @abstractmethod
    def setup(self) -> None:
        """Load the model(s); a second call does nothing."""

    @abstractmethod
    def process(self, batch: np.ndarray) -> Any:
        """One batch of RGB uint8 frames through the model: plain data the caller's `finish` takes."""

    @abstractmethod
    def finish(self, frames: np.ndarray, outputs: list[Any]) -> Any:
        """One video's result from its frames and its batches' outputs, in order (runs where the caller is)."""

    def run(self, frames: np.ndarray) -> Any:
        """One video's keyframes, in-process."""
        frames = check_frames(frames, self.name)
        self.setup()
        return self.finish(frames, [self.process(batch) for batch in batches(frames, self.spec.batch_size)])


_SPECIALISTS: dict[tuple[str, str], type[Specialist]] = {}


def register_specialist(cls: type[Specialist]) -> type[Specialist]:
    """Class decorator: register a specialist under (role, name); a second one of that key is refused."""
    key = (cls.role, cls.name)
    if key in _SPECIALISTS:
        raise ValueError(f"specialist {cls.name!r} for role {cls.role!r} is already registered by "
                         f"{_SPECIALISTS[key].__name__}")
    _SPECIALISTS[key] = cls
    return cls


def specialist_class(role: str, name: str) -> type[Specialist]:
    """The registered specialist `name` of `role`, or SpecialistUnavailable listing those there are."""
    if (role, name) not in _SPECIALISTS:
        known = sorted(n for r, n in _SPECIALISTS if r == role)
        raise SpecialistUnavailable(f"no {role} specialist named {name!r} is registered (registered: {known})")
    return _SPECIALISTS[(role, name)]
