"""A filled scene's facts, by what it holds: its own 3D boxes, else depth + instance masks lifted, else (a
non-metric source with nothing to lift) cameras only, which pose-only tasks (rotation, view change) still use."""

from __future__ import annotations

import numpy as np

from facts.boxes import BoxView, box_scene_facts
from facts.canonical import canonical_from_world
from facts.lift import Keyframe, camera_facts, lift_scene, room_from_depth
from facts.visibility import sightings_from_masks
from pipeline.fill import FilledScene
from schemas.facts import Provenance, SceneFact, SceneFacts, Sighting
from schemas.ingest import FrameRow
from schemas.tiers import ScaleTier
from sources.contract import Modality, SceneInputs
from storage.artifacts import put_mask
from storage.layout import OutputLayout

ABSENT = "none"


class SceneFactsError(ValueError):
    """A scene whose inputs cannot make facts (no poses or intrinsics after filling); the message says which."""


def build_scene_facts(filled: FilledScene, video_id: str, frames: list[FrameRow],
                      layout: OutputLayout) -> SceneFacts:
    """SceneFacts of `filled` at its keyframes (`frames` may hold more keyframes than SfM registered)."""
    inputs = filled.inputs
    if inputs.camera_to_world is None or inputs.intrinsics is None:
        raise SceneFactsError(f"{inputs.scene_id}: no camera poses or intrinsics to build facts on")
    by_index = {f.frame_index: f for f in frames}
    frames = [by_index[i] for i in inputs.frame_indices]
    provenance = _provenance(inputs)
    k = inputs.intrinsics

    def store_mask(mask):
        return put_mask(layout, mask)
    if inputs.boxes is not None:
        boxed = box_scene_facts(
            inputs.scene_id, inputs.tier, inputs.boxes,
            [BoxView(i, pose, None if inputs.depth_m is None else inputs.depth_m[n])
             for n, (i, pose) in enumerate(zip(inputs.frame_indices, inputs.camera_to_world))],
            k, inputs.up, inputs.depth_dense, provenance, store_mask)
        objects, canonical, extent = boxed.objects, boxed.canonical_from_world, boxed.extent_m
        sightings, sightings_from = boxed.sightings, "keyframes"
        tier, tier_from = boxed.tier, "metadata" if inputs.tier else "extent"
        room = (room_from_depth(inputs.scene_id, _keyframes(inputs), k, canonical)
                if tier is ScaleTier.INDOOR and inputs.depth_m is not None and inputs.depth_dense else None)
    elif inputs.depth_m is not None and inputs.instance_ids is not None and inputs.depth_dense:
        lifted = lift_scene(scene_id=inputs.scene_id, source_tier=inputs.tier, categories=inputs.categories,
                            keyframes=_keyframes(inputs), intrinsic=k,
                            up_world=inputs.up, provenance=provenance, store_mask=store_mask)
        objects, canonical, extent, room = lifted.objects, lifted.canonical_from_world, lifted.extent_m, lifted.room
        tier, tier_from = lifted.tier, lifted.tier_from
        sightings, sightings_from = _sightings(inputs)
        sightings = [s.model_copy(update={"bounds": lifted.sighted_bounds.get(s.instance_id)}) for s in sightings]
    else:
        canonical = canonical_from_world(inputs.camera_to_world[0], inputs.up)
        centres = (inputs.camera_to_world[:, :3, 3] @ canonical[:3, :3].T)[:, :2]
        extent = max(float(np.hypot(*np.ptp(centres, axis=0))), 1e-6)
        if inputs.tier is None:
            raise SceneFactsError(f"{inputs.scene_id}: no depth, instances or boxes to measure the scene by, and "
                                  f"no tier from the source (give one in the manifest or a tier-named folder)")
        objects, room, tier, tier_from = [], None, inputs.tier, "metadata"
        sightings, sightings_from = [], "keyframes"
    cameras = camera_facts(inputs.scene_id, video_id, frames, inputs.camera_to_world, k, canonical)
    scale = filled.scale
    scene = SceneFact(scene_id=inputs.scene_id, video_id=video_id, source=inputs.source, scale=tier,
                      tier_from=tier_from, extent_m=extent, n_keyframes=len(cameras), n_objects=len(objects),
                      fps=inputs.fps, room=room, provenance=provenance, metric=inputs.metric,
                      scale_method=scale.method if scale else None, scale_m_per_unit=scale.scale if scale else None,
                      scale_relative_mad=scale.relative_mad if scale else None,
                      scale_uncertainty=scale.uncertainty if scale else None,
                      scale_weakness=scale.weakness if scale else None, sightings=sightings,
                      sightings_from=sightings_from)
    return SceneFacts(scene=scene, objects=objects, cameras=cameras)


def _sightings(inputs: SceneInputs) -> tuple[list[Sighting], str]:
    """Pixel-level visibility of the instances over every frame whose masks the source has, else the keyframes."""
    if inputs.frame_instance_ids is not None:
        return sightings_from_masks(enumerate(inputs.frame_instance_ids), inputs.categories), "all_frames"
    return sightings_from_masks(zip(inputs.frame_indices, inputs.instance_ids), inputs.categories), "keyframes"


def _keyframes(inputs: SceneInputs) -> list[Keyframe]:
    """Dense depth, instance ids (none: all background) and pose per keyframe, for lifting."""
    ids = inputs.instance_ids if inputs.instance_ids is not None else np.zeros(inputs.depth_m.shape, np.uint16)
    return [Keyframe(frame_index=i, depth_m=inputs.depth_m[n], instance_ids=ids[n],
                     camera_to_world=inputs.camera_to_world[n]) for n, i in enumerate(inputs.frame_indices)]


def _provenance(inputs: SceneInputs) -> Provenance:
    boxes = inputs.provenance.get(Modality.BOXES)
    return Provenance(depth=inputs.provenance.get(Modality.DEPTH, boxes or ABSENT),
                      poses=inputs.provenance.get(Modality.POSES, ABSENT),
                      masks=inputs.provenance.get(Modality.INSTANCES, boxes or ABSENT))
