"""What every specialist declares: name, version (model id + weights hash), parameters and resource needs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

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
    """sha256 over a weights file, or over every file of a weights directory (relative names and bytes, sorted)."""
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


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
