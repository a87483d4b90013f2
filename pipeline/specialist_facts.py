"""Facts for a plain video from specialists: depth (fused), tracked instance masks, SfM poses made metric.

Every specialist output is cached by (video hash, specialist, version, params hash) and named in the facts'
provenance. A specialist without weights is reported with its reason, never replaced by made-up output.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facts.lift import Intrinsic, Keyframe, camera_facts, lift_scene
from schemas.annotations import Intrinsics
from schemas.facts import Provenance, SceneFact, SceneFacts
from schemas.ingest import FrameRow
from schemas.specialists import SfMConfig, TierProfile
from schemas.tiers import ScaleTier
from specialists.cache import SpecialistCache
from specialists.contract import SpecialistSpec
from specialists.detection import Tracks
from specialists.runner import SpecialistRunner
from specialists.scale_alignment import ScaleEstimate, align_to_depth, align_to_size_priors, scaled
from specialists.sfm import PYCOLMAP_VERSION, SfMError, SfMReconstruction, reconstruct, up_direction
from storage.artifacts import put_mask
from storage.layout import OutputLayout


class SpecialistsMissing(RuntimeError):
    """A plain video needs a specialist this run does not have; the message names it and why it is missing."""


@dataclass
class TierSpecialists:
    """The specialists of one tier profile: runners by key ("depth", "detection") and why any key is missing."""

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
class SceneIdentity:
    scene_id: str
    video_id: str
    source: str
    fps: float
    tier: ScaleTier | None


def sfm_spec(config: SfMConfig) -> SpecialistSpec:
    return SpecialistSpec.create("colmap_sfm", f"pycolmap-{PYCOLMAP_VERSION}", "", params=config.model_dump())


def specialist_scene_facts(scene: SceneIdentity, rgb: np.ndarray, frames: list[FrameRow],
                           specialists: TierSpecialists, layout: OutputLayout, cache: SpecialistCache) -> SceneFacts:
    """One plain video's keyframes (uint8 [N,H,W,3], rows `frames`) → SceneFacts: depth, tracks and SfM (each
    through `cache`), SfM scaled to the metric depth (or to size priors when the depth model is relative), then
    lifted."""
    missing = {key: specialists.unavailable.get(key, "not configured in the specialist profile")
               for key in ("depth", "detection") if key not in specialists.runners}
    if missing:
        raise SpecialistsMissing("; ".join(f"{key} specialist unavailable: {why}" for key, why in missing.items()))
    if not specialists.profile.sfm.enabled:
        raise SpecialistsMissing("pose specialist (SfM) is disabled in the specialist profile and the video has no "
                                 "native poses")
    indices = np.array([f.frame_index for f in frames])
    sfm = sfm_spec(specialists.profile.sfm)
    sfm_arrays = cache.fetch(sfm, scene.video_id, indices, lambda: _reconstruct(rgb, specialists.profile.sfm))
    if "sfm_error" in sfm_arrays:
        raise SfMError(str(sfm_arrays["sfm_error"]))
    rec = SfMReconstruction.from_arrays(sfm_arrays)
    depth_runner, detection_runner = specialists.runners["depth"], specialists.runners["detection"]
    depth = cache.fetch(depth_runner.spec, scene.video_id, indices, lambda: {"depth": depth_runner.depth(rgb)})["depth"]
    tracks = _tracks_from_arrays(cache.fetch(detection_runner.spec, scene.video_id, indices,
                                             lambda: _tracks_to_arrays(detection_runner.track(rgb))))
    metric = specialists.profile.depth.kind == "metric"
    scale = align_to_depth(rec, depth) if metric else align_to_size_priors(rec, tracks.instance_ids,
                                                                           tracks.categories)
    if not metric:
        depth = _sfm_aligned_depth(rec, depth) * scale.scale
    provenance = Provenance(depth=depth_runner.spec.provenance, poses=sfm.provenance,
                            masks=detection_runner.spec.provenance)
    return lift_sfm_scene(scene, frames, depth, tracks.instance_ids, tracks.categories, rec, scale, provenance,
                          layout)


def lift_sfm_scene(scene: SceneIdentity, frames: list[FrameRow], depth_m: np.ndarray, instance_ids: np.ndarray,
                   categories: dict[int, str], rec: SfMReconstruction, scale: ScaleEstimate, provenance: Provenance,
                   layout: OutputLayout) -> SceneFacts:
    """Lift metric depth + instance masks at the keyframes SfM registered, with SfM intrinsics and its poses scaled
    to metres; the scene records the scale, its method and its spread (which gates metric QA)."""
    metric = scaled(rec, scale)
    kept = np.flatnonzero(rec.registered)
    keyframes = [Keyframe(frame_index=frames[i].frame_index, depth_m=depth_m[i], instance_ids=instance_ids[i],
                          camera_to_world=metric.camera_to_world[i]) for i in kept]
    intrinsics = Intrinsics(fx=rec.fx, fy=rec.fy, cx=rec.cx, cy=rec.cy, width=rec.width, height=rec.height)
    lifted = lift_scene(scene_id=scene.scene_id, source_tier=scene.tier, categories=categories,
                        keyframes=keyframes, intrinsic=Intrinsic(fx=rec.fx, fy=rec.fy, cx=rec.cx, cy=rec.cy),
                        up_world=up_direction(metric), provenance=provenance,
                        store_mask=lambda mask: put_mask(layout, mask))
    cameras = camera_facts(scene.scene_id, scene.video_id, [frames[i] for i in kept], keyframes, intrinsics,
                           lifted.canonical_from_world)
    fact = SceneFact(scene_id=scene.scene_id, video_id=scene.video_id, source=scene.source, scale=lifted.tier,
                     tier_from=lifted.tier_from, extent_m=lifted.extent_m, n_keyframes=len(cameras),
                     n_objects=len(lifted.objects), fps=scene.fps, room=lifted.room, provenance=provenance,
                     scale_method=scale.method, scale_m_per_unit=scale.scale, scale_relative_mad=scale.relative_mad)
    return SceneFacts(scene=fact, objects=lifted.objects, cameras=cameras)


def _reconstruct(rgb: np.ndarray, config: SfMConfig) -> dict[str, np.ndarray]:
    """The reconstruction as cache arrays; a failure is cached too (as its message): it is as deterministic."""
    with tempfile.TemporaryDirectory(prefix="spacevista-sfm-") as workdir:
        try:
            return reconstruct(rgb, Path(workdir), config).to_arrays()
        except SfMError as err:
            return {"sfm_error": np.array(str(err))}


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

