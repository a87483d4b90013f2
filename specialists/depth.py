"""Depth Anything through transformers (relative or metric), batched, half precision on CUDA, plus temporal fusion.

Temporal fusion (SPEC.md): D* = argmin_D ‖D − M‖² + λ‖∇t D − ∇t N‖², with M the per-frame metric depth and N a
temporally consistent depth. N comes from a relative Depth Anything (`temporal_reference` in the profile) whose
affine-invariant inverse depth is mapped to metric inverse depth with ONE scale and shift for the whole clip, then
inverted: a single clip-wide map adds no frame-to-frame variation of its own, so N's temporal gradients are the
relative model's, while its level comes from M. Without a reference model the per-frame depth is returned as is.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from runtime.offline import quiet_environment
from schemas.specialists import DepthModelConfig
from specialists.contract import (
    Specialist,
    SpecialistError,
    SpecialistSpec,
    SpecialistUnavailable,
    check_frames,
    register_specialist,
    require_weights,
    weights_sha256,
)

NAME = "depth_anything"
_HOW = ("set `depth.weights` (and `temporal_reference`) in the specialist profile to a local Depth Anything "
        "directory (config.json, model.safetensors, preprocessor_config.json), e.g. copied from a machine with "
        "Hugging Face access")


def _device(device: str | None) -> str:
    import torch  # noqa: PLC0415

    return device or ("cuda" if torch.cuda.is_available() else "cpu")


class _DepthModel:
    """One loaded DepthAnythingForDepthEstimation with its normalisation; frames in, depth maps at frame size out."""

    def __init__(self, weights, input_size: int, device: str):
        quiet_environment()
        import torch  # noqa: PLC0415
        from transformers import AutoImageProcessor, DepthAnythingForDepthEstimation  # noqa: PLC0415
        from transformers.utils import logging as transformers_logging  # noqa: PLC0415

        transformers_logging.disable_progress_bar()

        require_weights(NAME, weights, _HOW)
        try:
            processor = AutoImageProcessor.from_pretrained(weights)
            self.model = DepthAnythingForDepthEstimation.from_pretrained(weights)
        except (OSError, ValueError) as err:
            raise SpecialistUnavailable(f"{NAME}: {weights} is not a loadable Depth Anything directory "
                                        f"({str(err).splitlines()[0]}); {_HOW}") from None
        self.dtype = torch.float16 if device.startswith("cuda") else torch.float32
        self.model.to(device=device, dtype=self.dtype).eval()
        self.device, self.input_size = device, input_size
        self.mean = torch.tensor(processor.image_mean, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(processor.image_std, device=device).view(1, 3, 1, 1)

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        import torch  # noqa: PLC0415
        import torch.nn.functional as F  # noqa: PLC0415

        height, width = frames.shape[1:3]
        with torch.inference_mode():
            pixels = torch.tensor(frames, device=self.device).permute(0, 3, 1, 2).float() / 255.0
            pixels = F.interpolate(pixels, size=self._model_size(height, width), mode="bicubic", antialias=True,
                                   align_corners=False)
            pixels = ((pixels - self.mean) / self.std).to(self.dtype)
            predicted = self.model(pixel_values=pixels).predicted_depth.float()
            depth = F.interpolate(predicted[:, None], size=(height, width), mode="bilinear", align_corners=False)
        return depth[:, 0].cpu().numpy().astype(np.float32)

    def _model_size(self, height: int, width: int) -> tuple[int, int]:
        """Shorter side at input_size, the other side scaled and rounded to the 14 px patch (Depth Anything's own
        resize: keep aspect ratio, ensure a multiple of 14)."""
        scale = self.input_size / min(height, width)
        return (max(14, round(height * scale / 14) * 14), max(14, round(width * scale / 14) * 14))


@register_specialist
class DepthSpecialist(Specialist):
    """Per-frame depth for one video's keyframes; metres when the configured model is metric."""

    role = "depth"
    name = NAME

    def __init__(self, config: DepthModelConfig, device: str | None = None):
        self.config, self.device = config, device
        self.metric = config.kind == "metric"
        _check_kind(config.weights, config.kind)
        weights_hash = weights_sha256(config.weights)
        params: dict[str, object] = {"kind": config.kind, "input_size": config.input_size,
                                     "max_depth_m": config.max_depth_m}
        if config.temporal_reference is not None:
            _check_kind(config.temporal_reference, "relative", "temporal_reference ")
            reference_hash = weights_sha256(config.temporal_reference)
            weights_hash = _combined_hash(weights_hash, reference_hash)
            params.update(temporal_reference=f"{config.temporal_reference.name}@{reference_hash[:12]}",
                          temporal_lambda=config.temporal_lambda)
        self.spec = SpecialistSpec.create(NAME, config.weights.name, weights_hash, params,
                                          num_gpus=config.num_gpus, batch_size=config.batch_size)
        self.model: _DepthModel | None = None
        self.reference: _DepthModel | None = None

    def setup(self) -> None:
        if self.model is not None:
            return
        device = _device(self.device)
        self.model = _DepthModel(self.config.weights, self.config.input_size, device)
        if self.config.temporal_reference is not None:
            self.reference = _DepthModel(self.config.temporal_reference, self.config.input_size, device)

    def process(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """One batch through the model(s): {"depth": per-frame depth, "reference": relative depth (when fused)}."""
        batch = check_frames(batch, NAME)
        self.setup()
        depth = self.model(batch)
        if self.config.max_depth_m is not None:
            depth = np.minimum(depth, np.float32(self.config.max_depth_m))
        arrays = {"depth": depth}
        if self.reference is not None:
            arrays["reference"] = self.reference(batch)
        return arrays

    def finish(self, frames: np.ndarray, outputs: list[dict[str, np.ndarray]]) -> np.ndarray:
        """float32 [N, H, W] in frame order, metres if metric: fused over time when the outputs carry a relative
        reference, else the per-frame depth."""
        return clip_depth(outputs, self.config.temporal_lambda)


def _check_kind(weights: Path, kind: str, what: str = "") -> None:
    """The directory's own config must say the model is of `kind` (read without loading the weights)."""
    require_weights(NAME, weights, _HOW)
    try:
        found = json.loads((weights / "config.json").read_text()).get("depth_estimation_type", "relative")
    except (OSError, ValueError) as err:
        raise SpecialistUnavailable(f"{NAME}: {weights} is not a loadable Depth Anything directory "
                                    f"({str(err).splitlines()[0]}); {_HOW}") from None
    if found != kind:
        raise ValueError(f"{NAME}: the profile says {what}kind={kind!r} but {weights} is a {found!r} Depth Anything "
                         f"model")


def clip_depth(outputs: list[dict[str, np.ndarray]], temporal_lambda: float) -> np.ndarray:
    """One clip's depth from its per-batch `infer` outputs, in frame order: fused over time when they carry a
    relative reference, else the per-frame depth."""
    depth = np.concatenate([output["depth"] for output in outputs])
    if "reference" not in outputs[0]:
        return depth
    reference = np.concatenate([output["reference"] for output in outputs])
    return fuse_temporal(depth, consistent_depth(reference, depth), temporal_lambda)


def consistent_depth(relative: np.ndarray, metric: np.ndarray) -> np.ndarray:
    """N for the fusion: relative inverse depth r mapped by one clip-wide least-squares fit 1/M ≈ s·r + t, inverted
    back to metres. The fitted inverse depth is clipped to the range of 1/M seen in the clip."""
    valid = np.isfinite(metric) & (metric > 0) & np.isfinite(relative)
    if valid.sum() < 2:
        raise SpecialistError(f"{NAME}: fewer than 2 pixels with positive metric depth in the clip; "
                              "cannot align the temporal reference")
    inverse = 1.0 / metric[valid].astype(np.float64)
    design = np.stack([relative[valid].astype(np.float64), np.ones(inverse.size)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, inverse, rcond=None)
    fitted = np.clip(scale * relative.astype(np.float64) + shift, inverse.min(), inverse.max())
    return (1.0 / fitted).astype(np.float32)


def fuse_temporal(metric: np.ndarray, consistent: np.ndarray, lam: float) -> np.ndarray:
    """D* = argmin_D ‖D − M‖² + λ‖∇t D − ∇t N‖², exactly, for every pixel at once.

    With K = LᵀL for the forward difference L along t, the normal equations are (I + λK) D = M + λK N, i.e.
    (I + λK)(D − N) = M − N: one tridiagonal system along t shared by all pixels, solved by the Thomas algorithm
    with the pixels as a vector of right-hand sides.
    """
    if metric.shape != consistent.shape or metric.ndim < 1:
        raise ValueError(f"fuse_temporal: metric {metric.shape} and consistent {consistent.shape} depth must have "
                         "the same shape [T, ...]")
    if lam < 0:
        raise ValueError(f"fuse_temporal: lambda must be ≥ 0, got {lam}")
    if not (np.isfinite(metric).all() and np.isfinite(consistent).all()):
        raise ValueError("fuse_temporal: metric and consistent depth must be finite everywhere")
    steps = metric.shape[0]
    residual = (metric - consistent).astype(np.float64)
    if steps == 1 or lam == 0:
        return metric.astype(np.float32)
    diagonal = np.full(steps, 1.0 + 2.0 * lam)
    diagonal[[0, -1]] = 1.0 + lam
    off = -lam
    # Thomas algorithm: forward elimination (c' and d'), then back substitution.
    c_prime = np.empty(steps - 1)
    d_prime = np.empty_like(residual)
    c_prime[0] = off / diagonal[0]
    d_prime[0] = residual[0] / diagonal[0]
    for t in range(1, steps):
        denominator = diagonal[t] - off * c_prime[t - 1]
        if t < steps - 1:
            c_prime[t] = off / denominator
        d_prime[t] = (residual[t] - off * d_prime[t - 1]) / denominator
    for t in range(steps - 2, -1, -1):
        d_prime[t] -= c_prime[t] * d_prime[t + 1]
    return (consistent + d_prime).astype(np.float32)


def _combined_hash(*hashes: str) -> str:
    return hashlib.sha256("".join(hashes).encode()).hexdigest()
