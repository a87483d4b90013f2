"""The per-tier specialist profile: which models run, where their weights are, prompts, keyframe rate, SfM on/off.

Relative weight paths in a profile YAML are resolved against the YAML's own folder. A missing weights path is not a
profile error: that specialist is reported unavailable when it is built (specialists.contract.SpecialistUnavailable).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from schemas.tiers import ScaleTier


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _resolve(path: Path | None, info: ValidationInfo) -> Path | None:
    base = (info.context or {}).get("base_dir")
    if path is None or path.is_absolute() or base is None:
        return path
    return Path(base) / path


class DepthModelConfig(_Config):
    model: str = Field(default="depth_anything", description="the registered depth specialist (specialists/)")
    weights: Path = Field(description="a local Hugging Face directory of a DepthAnythingForDepthEstimation model")
    kind: Literal["metric", "relative"] = Field(description="metric: output in metres; relative: affine-invariant "
                                                            "inverse depth")
    input_size: int = Field(default=518, ge=14, description="shorter side fed to the model; a multiple of 14")
    batch_size: int = Field(default=4, ge=1)
    num_gpus: float = Field(default=0, ge=0)
    temporal_lambda: float = Field(default=1.0, ge=0, description="λ of the temporal fusion D* (SPEC.md)")
    max_depth_m: float | None = Field(default=None, gt=0, description="metric depth is clipped to this many metres")
    temporal_reference: Path | None = Field(
        default=None, description="a relative Depth Anything directory; aligned to the metric depth with one "
                                  "scale+shift per clip it is the temporally consistent N of the fusion")

    _resolve_paths = field_validator("weights", "temporal_reference")(_resolve)

    @field_validator("input_size")
    @classmethod
    def _multiple_of_14(cls, value: int) -> int:
        if value % 14:
            raise ValueError(f"input_size must be a multiple of the 14 px patch, got {value}")
        return value

    @model_validator(mode="after")
    def _metric_only_options(self) -> DepthModelConfig:
        if self.kind == "relative" and (self.max_depth_m is not None or self.temporal_reference is not None):
            raise ValueError("max_depth_m and temporal_reference apply to a metric depth model only")
        return self


class DetectorConfig(_Config):
    model: str = Field(default="yolo", description="the registered detection + tracking specialist (specialists/)")
    weights: Path = Field(description="an ultralytics .pt file, or an ultralytics model yaml (random init, tests)")
    classes: list[str] | None = Field(
        default=None, description="open-vocabulary prompts where the model supports set_classes; for a closed-set "
                                  "model, the subset of its class names to keep")
    confidence: float = Field(default=0.25, gt=0, lt=1)
    tracker: Literal["bytetrack", "botsort"] = "bytetrack"
    batch_size: int = Field(default=8, ge=1)
    num_gpus: float = Field(default=0, ge=0)
    image_size: int = Field(default=640, ge=32, description="inference size in pixels; a multiple of 32")

    _resolve_paths = field_validator("weights")(_resolve)

    @field_validator("weights")
    @classmethod
    def _weights_kind(cls, value: Path) -> Path:
        if value.suffix not in (".pt", ".yaml", ".yml"):
            raise ValueError(f"detector weights must be an ultralytics .pt file or model .yaml, got {value}")
        return value

    @field_validator("image_size")
    @classmethod
    def _multiple_of_32(cls, value: int) -> int:
        if value % 32:
            raise ValueError(f"image_size must be a multiple of the 32 px stride, got {value}")
        return value

    @field_validator("classes")
    @classmethod
    def _non_empty(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or any(not name.strip() for name in value)):
            raise ValueError("classes must be a non-empty list of non-empty names (or left out)")
        return value


class SfMConfig(_Config):
    enabled: bool = True
    matcher: Literal["sequential", "exhaustive"] = "sequential"
    overlap: int = Field(default=10, ge=1, description="sequential matching: neighbours matched per keyframe")
    max_keyframes: int = Field(default=30, ge=2)


class TierProfile(_Config):
    depth: DepthModelConfig | None = None
    detector: DetectorConfig | None = None
    sfm: SfMConfig = SfMConfig()
    keyframe_stride: int | None = Field(default=None, ge=1, description="overrides the run's keyframe stride")


class SpecialistProfile(_Config):
    """`tiers` entries override `default` key by key (depth, detector, sfm, keyframe_stride); `depth: null` in a
    tier turns depth off there."""

    default: TierProfile
    tiers: dict[ScaleTier, TierProfile] = {}

    @model_validator(mode="before")
    @classmethod
    def _tiers_inherit_default(cls, data: object) -> object:
        if not isinstance(data, dict) or not isinstance(data.get("default"), dict) \
                or not isinstance(data.get("tiers"), dict):
            return data
        tiers = {tier: {**data["default"], **entry} if isinstance(entry, dict) else entry
                 for tier, entry in data["tiers"].items()}
        return {**data, "tiers": tiers}

    def for_tier(self, tier: ScaleTier | None) -> TierProfile:
        """The tier's own profile, or the default one for an unknown tier or a tier without an entry."""
        return self.tiers.get(tier, self.default) if tier is not None else self.default

    def weights_paths(self) -> list[Path]:
        """Every weights file or directory the profile names, once each."""
        paths = {path for profile in (self.default, *self.tiers.values())
                 for path in (profile.depth and profile.depth.weights,
                              profile.depth and profile.depth.temporal_reference,
                              profile.detector and profile.detector.weights) if path is not None}
        return sorted(paths)


def load_profile(path: Path) -> SpecialistProfile:
    """Read and validate a profile YAML; errors name the file and the offending field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as err:
        raise ValueError(f"specialist profile {path}: cannot read it ({err.strerror})") from None
    except yaml.YAMLError as err:
        raise ValueError(f"specialist profile {path}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise ValueError(f"specialist profile {path}: expected a mapping with a 'default' entry, "
                         f"got {type(data).__name__}")
    try:
        return SpecialistProfile.model_validate(data, context={"base_dir": path.resolve().parent})
    except ValidationError as err:
        problems = "; ".join(f"{'.'.join(str(part) for part in e['loc']) or '<root>'}: {e['msg']}"
                             for e in err.errors())
        raise ValueError(f"specialist profile {path}: {problems}") from None
