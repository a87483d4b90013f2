"""Fill only what a source lacks: each specialist role runs only for a modality the source does not provide.

- poses (and intrinsics, when also missing): SfM, up to scale;
- depth: a depth specialist, unless the source has depth or its own 3D boxes;
- instances: detection + tracking, unless the source has instance masks or its own 3D boxes;
- scale: SfM poses are made metric against metric depth, or against per-category size priors when the depth model
  is relative. A source whose own poses are up to scale (COLMAP, e.g. DL3DV) gets points triangulated with those
  poses and is scaled the same way; without a depth specialist it stays non-metric: its metric tasks are gated out
  downstream (`non_metric_source`) while pose-only tasks still come out.

Every specialist output is cached by (video hash, specialist, version, params hash) and named in the provenance.
A specialist without weights is reported with its reason, never replaced by made-up output.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np

from schemas.annotations import Intrinsics
from schemas.specialists import SfMConfig, TierProfile
from schemas.tiers import ScaleTier
from sources.contract import Modality, SceneInputs
from sources.gravity import ESTIMATED_FROM_CAMERAS, estimate_up
from specialists.cache import SpecialistCache
from specialists.contract import SpecialistSpec
from specialists.detection import Tracks
from specialists.runner import SpecialistRunner
from specialists.scale_alignment import ScaleEstimate, align_to_depth, align_to_size_priors, scaled
from specialists.sfm import PYCOLMAP_VERSION, SfMError, SfMReconstruction, reconstruct, up_direction
from specialists.triangulation import NEIGHBOURS, RATIO, triangulate


class SpecialistsMissing(RuntimeError):
    """A video needs a specialist this run does not have; the message names it and why it is missing."""


@dataclass
class TierSpecialists:
    """The specialists of one tier profile: runners by role ("depth", "detection") and why any role is missing."""

    profile: TierProfile
    runners: dict[str, SpecialistRunner] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


@dataclass
class Specialists:
    """Per-tier specialists of a run; a video without a tier hint (or of a tier without an entry) uses default."""

    default: TierSpecialists
    tiers: dict[ScaleTier, TierSpecialists] = field(default_factory=dict)

    def for_tier(self, tier: ScaleTier | None) -> TierSpecialists:
        return self.tiers.get(tier, self.default) if tier is not None else self.default


@dataclass(frozen=True)
class FilledScene:
    """A scene with every modality the facts need, and how its metric scale was obtained (None: native)."""

    inputs: SceneInputs
    scale: ScaleEstimate | None = None


def sfm_spec(config: SfMConfig) -> SpecialistSpec:
    return SpecialistSpec.create("colmap_sfm", f"pycolmap-{PYCOLMAP_VERSION}", "", params=config.model_dump())


def triangulation_spec(camera_to_world: np.ndarray) -> SpecialistSpec:
    """Triangulation under a source's own poses: its output depends on them, so their hash is a parameter."""
    poses = hashlib.sha256(np.ascontiguousarray(camera_to_world, dtype=np.float64).tobytes()).hexdigest()[:16]
    return SpecialistSpec.create("pose_triangulation", f"opencv-{cv2.__version__}", "",
                                 params={"neighbours": NEIGHBOURS, "ratio": RATIO, "poses": poses})


def needs(inputs: SceneInputs) -> list[Modality]:
    """The modalities specialists must fill before facts can be built (in the order they run)."""
    if not inputs.has(Modality.POSES):
        return [Modality.POSES, *_object_needs(inputs), Modality.METRIC]
    if not inputs.metric:
        return [*_object_needs(inputs), Modality.METRIC]
    return _object_needs(inputs)


def _object_needs(inputs: SceneInputs) -> list[Modality]:
    if inputs.boxes is not None:
        return []
    missing = [] if inputs.has(Modality.DEPTH) and inputs.depth_dense else [Modality.DEPTH]
    return missing + ([] if inputs.has(Modality.INSTANCES) else [Modality.INSTANCES])


def fill_missing(inputs: SceneInputs, specialists: TierSpecialists | None, cache: SpecialistCache,
                 video_id: str) -> FilledScene:
    """`inputs` completed by specialists (each through `cache`); SpecialistsMissing when a needed one is absent."""
    missing = needs(inputs)
    if not missing or (Modality.POSES not in missing and not inputs.metric
                       and (specialists is None or "depth" not in specialists.runners)):
        return FilledScene(_with_up(inputs))  # (native up-to-scale poses and no depth to scale them: pose-only)
    _require(missing, specialists)
    indices = np.asarray(inputs.frame_indices)
    rec = None
    if Modality.POSES in missing:
        rec = _structure(cache, sfm_spec(specialists.profile.sfm), video_id, indices,
                         lambda: _reconstruct(inputs.rgb, specialists.profile.sfm))
    depth_metric = True
    if Modality.DEPTH in missing:
        runner = specialists.runners["depth"]
        depth = cache.fetch(runner.spec, video_id, indices, lambda: {"depth": runner.run(inputs.rgb)})["depth"]
        depth_metric = specialists.profile.depth.kind == "metric"
        inputs = inputs.with_modality(Modality.DEPTH, runner.spec.provenance, depth_m=depth, depth_dense=True)
    if Modality.INSTANCES in missing:
        runner = specialists.runners["detection"]
        tracks = _tracks_from_arrays(cache.fetch(runner.spec, video_id, indices,
                                                 lambda: _tracks_to_arrays(runner.run(inputs.rgb))))
        inputs = inputs.with_modality(Modality.INSTANCES, runner.spec.provenance, instance_ids=tracks.instance_ids,
                                      categories=tracks.categories)
    if rec is None and inputs.metric:
        return FilledScene(_with_up(inputs))
    if rec is None:
        structure = triangulation_spec(inputs.camera_to_world)
        rec = _structure(cache, structure, video_id, indices,
                         lambda: triangulate(inputs.rgb, inputs.intrinsics, inputs.camera_to_world))
        return metric_from_sfm(inputs, rec, depth_metric, structure.provenance, Modality.DEPTH not in missing)
    return metric_from_sfm(inputs, rec, depth_metric, sfm_spec(specialists.profile.sfm).provenance,
                           Modality.DEPTH not in missing)


def _require(missing: list[Modality], specialists: TierSpecialists | None) -> None:
    if specialists is None:
        raise SpecialistsMissing(f"the source lacks {', '.join(m.value for m in missing)}; this run has no "
                                 f"specialists to fill them (see `--specialists`)")
    roles = {Modality.DEPTH: "depth", Modality.INSTANCES: "detection"}
    absent = {roles[m]: specialists.unavailable.get(roles[m], "not configured in the specialist profile")
              for m in missing if m in roles and roles[m] not in specialists.runners}
    if absent:
        raise SpecialistsMissing("; ".join(f"{role} specialist unavailable: {why}" for role, why in absent.items()))
    if Modality.POSES in missing and not specialists.profile.sfm.enabled:
        raise SpecialistsMissing("pose specialist (SfM) is disabled in the specialist profile and the source has "
                                 "no native poses")


def metric_from_sfm(inputs: SceneInputs, rec: SfMReconstruction, depth_metric: bool,
                    sfm_provenance: str, depth_measured: bool = False) -> FilledScene:
    """The reconstruction's poses and intrinsics (a source's own where it has them) at the keyframes it registered,
    scaled to metres against the metric depth, or (relative depth) against size priors, with the relative depth
    fitted to the reconstruction's points first. `depth_measured`: the depth is the source's own, not a model's."""
    if depth_metric:
        scale = align_to_depth(rec, inputs.depth_m, measured=depth_measured)
        depth = inputs.depth_m
    else:
        scale = align_to_size_priors(rec, inputs.instance_ids, inputs.categories)
        depth = _sfm_aligned_depth(rec, inputs.depth_m) * scale.scale
    metric = scaled(rec, scale)
    kept = np.flatnonzero(rec.registered)
    intrinsics = inputs.intrinsics or Intrinsics(fx=rec.fx, fy=rec.fy, cx=rec.cx, cy=rec.cy, width=rec.width,
                                                 height=rec.height)
    own = inputs.provenance
    filled = replace(
        _subset(inputs, kept), intrinsics=intrinsics, camera_to_world=metric.camera_to_world[kept],
        depth_m=depth[kept], metric=True,
        up=inputs.up if inputs.up is not None else
        estimate_up(metric.camera_to_world[kept]) if Modality.POSES in own else up_direction(metric),
        provenance={**own, Modality.POSES: own.get(Modality.POSES, sfm_provenance),
                    Modality.INTRINSICS: own.get(Modality.INTRINSICS, sfm_provenance),
                    Modality.METRIC: f"{scale.method}:{sfm_provenance}",
                    Modality.GRAVITY: own.get(Modality.GRAVITY, ESTIMATED_FROM_CAMERAS if Modality.POSES in own
                                              else sfm_provenance)})
    return FilledScene(filled, scale)


def _subset(inputs: SceneInputs, kept: np.ndarray) -> SceneInputs:
    """The keyframes at positions `kept` (SfM may register only some of them)."""
    def take(array):
        return None if array is None else array[kept]
    return replace(inputs, frame_indices=[inputs.frame_indices[i] for i in kept],
                   timestamps_s=[inputs.timestamps_s[i] for i in kept], rgb=inputs.rgb[kept],
                   camera_to_world=take(inputs.camera_to_world), depth_m=take(inputs.depth_m),
                   instance_ids=take(inputs.instance_ids))


def _with_up(inputs: SceneInputs) -> SceneInputs:
    """A source without gravity gets it estimated from its cameras (flagged in the provenance)."""
    if inputs.up is not None or inputs.camera_to_world is None:
        return inputs
    return inputs.with_modality(Modality.GRAVITY, ESTIMATED_FROM_CAMERAS, up=estimate_up(inputs.camera_to_world))


def _structure(cache: SpecialistCache, spec: SpecialistSpec, video_id: str, indices: np.ndarray,
               build: Callable[[], SfMReconstruction]) -> SfMReconstruction:
    """A reconstruction (SfM, or triangulation under known poses) through the cache. A failure is cached too, as
    its message (it is as deterministic), and raised again as SfMError."""
    def arrays() -> dict[str, np.ndarray]:
        try:
            return build().to_arrays()
        except SfMError as err:
            return {"sfm_error": np.array(str(err))}

    cached = cache.fetch(spec, video_id, indices, arrays)
    if "sfm_error" in cached:
        raise SfMError(str(cached["sfm_error"]))
    return SfMReconstruction.from_arrays(cached)


def _reconstruct(rgb: np.ndarray, config: SfMConfig) -> SfMReconstruction:
    with tempfile.TemporaryDirectory(prefix="spacevista-sfm-") as workdir:
        return reconstruct(rgb, Path(workdir), config)


def _tracks_to_arrays(tracks: Tracks) -> dict[str, np.ndarray]:
    ids = sorted(tracks.categories)
    return {"instance_ids": tracks.instance_ids, "track_ids": np.array(ids, dtype=np.int64),
            "track_categories": np.array([tracks.categories[k] for k in ids], dtype=str),
            "track_confidences": np.array([tracks.confidences.get(k, 0.0) for k in ids], dtype=np.float64)}


def _tracks_from_arrays(arrays: dict[str, np.ndarray]) -> Tracks:
    ids = arrays["track_ids"].tolist()
    return Tracks(instance_ids=arrays["instance_ids"], categories=dict(zip(ids, arrays["track_categories"].tolist())),
                  confidences=dict(zip(ids, arrays["track_confidences"].tolist())))


def _sfm_aligned_depth(rec: SfMReconstruction, relative: np.ndarray) -> np.ndarray:
    """Relative (affine-invariant inverse) depth turned into SfM-unit depth: per registered keyframe, a least-squares
    scale and shift of the inverse depth onto the SfM points' inverse depths there; NaN where it cannot be fitted."""
    out = np.full(relative.shape, np.nan, dtype=np.float32)
    for i in np.flatnonzero(rec.registered):
        uv, index = rec.observations[i]
        pose = rec.camera_to_world[i]
        z = ((rec.points_xyz[index] - pose[:3, 3]) @ pose[:3, :3])[:, 2]
        col = np.clip(uv[:, 0].astype(int), 0, relative.shape[2] - 1)
        row = np.clip(uv[:, 1].astype(int), 0, relative.shape[1] - 1)
        ok = z > 0
        if ok.sum() < 3:
            continue
        design = np.stack([relative[i][row[ok], col[ok]], np.ones(ok.sum())], axis=1)
        (a, b), *_ = np.linalg.lstsq(design, 1.0 / z[ok], rcond=None)
        inverse = a * relative[i] + b
        out[i] = np.where(inverse > 0, 1.0 / np.maximum(inverse, 1e-12), np.nan)
    return out
