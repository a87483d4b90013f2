"""The dataset fixtures curated end to end, and every answer held against the generator's exact truth.

Each fixture writer renders generated scenes into a public dataset's layout; each item is found by auto-detection
and curated through its source and the whole pipeline (in process: no Prefect, no Ray). Objects are matched to the
truth by their centres (the pipeline's ids follow each dataset's own numbering), the numeric answers are recomputed
with plain numpy (tests/ground_truth.py), and multiple-choice answers are solved by the task's template over facts
built from the exact boxes.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facts.exact import exact_scene_facts
from pipeline.video import curate_video
from qa_templates.base import template_for
from schemas.annotations import CameraFrame, CameraTrack
from schemas.config import CurateConfig
from schemas.facts import SceneFacts
from schemas.tiers import ScaleTier
from sources import registry
from storage.layout import OutputLayout
from tests.datasets import FixtureScene
from tests.datasets.arkitscenes_writer import write_arkitscenes
from tests.datasets.dl3dv_writer import write_dl3dv
from tests.datasets.nuscenes_writer import write_nuscenes
from tests.datasets.wildrgbd_writer import write_wildrgbd
from tests.ground_truth import NUMERIC_TASKS, GroundTruth
from training.metrics import mean_relative_accuracy

FIXTURES = {
    "wildrgbd": [lambda root: write_wildrgbd(root, tier=ScaleTier.TABLETOP, seed=3, num_frames=12),
                 lambda root: write_wildrgbd(root, tier=ScaleTier.TABLETOP, seed=4, num_frames=12)],
    "arkitscenes": [lambda root: write_arkitscenes(root, seed=5, sky_direction="Left", num_frames=12),
                    lambda root: write_arkitscenes(root, seed=6, sky_direction="Up", num_frames=12)],
    "dl3dv": [lambda root: write_dl3dv(root, tier=ScaleTier.OUTDOOR, seed=7, num_frames=10),
              lambda root: write_dl3dv(root, tier=ScaleTier.DRONE, seed=8, num_frames=10, tier_folder="drone")],
    "nuscenes": [lambda root: write_nuscenes(root, seed=8, num_samples=8),
                 lambda root: write_nuscenes(root, seed=9, num_samples=8)],
}
KEYFRAME_STRIDE = 1
"""Fixtures hold a dozen frames (real items hold hundreds): every frame is a keyframe."""
POSE_ONLY_TASKS = {"rotation_estimation", "view_change"}


@dataclass
class Curated:
    """What one dataset's fixture gave: rows per table, gate drops, seconds per video, and the truth per scene."""

    truth: dict[str, FixtureScene] = field(default_factory=dict)
    rows: dict[str, list] = field(default_factory=lambda: defaultdict(list))
    drops: Counter = field(default_factory=Counter)
    seconds: list[float] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)


def curate_fixtures(workdir: Path, fixtures: dict[str, list] = FIXTURES) -> dict[str, Curated]:
    """Write every dataset's fixture scenes (`fixtures`: dataset → writers) under `workdir` and curate each item
    found by auto-detection."""
    out = {}
    for dataset, writers in fixtures.items():
        root = workdir / f"{dataset}-data"
        root.mkdir(parents=True)
        result = out[dataset] = Curated()
        scenes = [write(root) for write in writers]
        config = CurateConfig(data_root=root, output_root=workdir / f"{dataset}-out", generate_default_data=False,
                              keyframe_stride=KEYFRAME_STRIDE)
        layout = OutputLayout(config.output_root)
        for item in registry.discover(root):
            result.sources.add(item.source)
            result.truth[item.scene_id] = next(s for s in scenes if s.scene_id == item.scene_id)
            start = time.perf_counter()
            video = curate_video(item, config, layout, f"truth-{dataset}")
            result.seconds.append(time.perf_counter() - start)
            for table, rows in video.rows.items():
                result.rows[table].extend(row.model_dump(mode="json") for row in rows)
            result.drops.update(video.drops)
    return out


def _truth(fixture: FixtureScene, scene_id: str) -> GroundTruth:
    frames = [CameraFrame(index=i, camera_to_world=tuple(map(tuple, pose.tolist())))
              for i, pose in enumerate(fixture.camera_to_world)]
    track = CameraTrack(fps=1.0, intrinsics=fixture.intrinsics, frames=frames)
    return GroundTruth(fixture.annotation, track, fixture.masks, scene_id=scene_id)


def _object_map(result: Curated, scene_id: str, truth: GroundTruth) -> dict[str, str]:
    """Curated object id → truth object id, by the nearest truth box centre (both in the scene's canonical frame)."""
    camera = next(c for c in result.rows["cameras"] if c["scene_id"] == scene_id and c["keyframe_rank"] == 0)
    to_canonical = np.asarray(camera["camera_to_canonical"]).reshape(4, 4)
    canonical_from_truth = to_canonical @ np.linalg.inv(truth.poses[camera["frame_index"]])
    centres = {oid: canonical_from_truth[:3, :3] @ truth.centre(oid) + canonical_from_truth[:3, 3]
               for oid in truth.boxes}
    mapping = {}
    for obj in (o for o in result.rows["objects"] if o["scene_id"] == scene_id):
        nearest = min(centres, key=lambda oid: np.linalg.norm(centres[oid] - np.asarray(obj["center"])))
        mapping[obj["object_id"]] = nearest
    return mapping


def _seen_in_masks(facts: SceneFacts, truth: GroundTruth) -> SceneFacts:
    """Exact facts whose per-frame visibility is the rendered truth (an instance seen where its mask box is at
    least 20×20 px), not the box's projection, which ignores occlusion."""
    objects = []
    for obj in facts.objects:
        seen = [o for o in obj.observations if _mask_box_side(truth.masks[o.frame_index] == obj.instance_id) >= 20]
        if seen:
            objects.append(obj.model_copy(update={"observations": seen, "first_seen_frame": seen[0].frame_index,
                                                  "n_keyframes_seen": len(seen)}))
    return facts.model_copy(update={"objects": objects})


def _mask_box_side(mask: np.ndarray) -> int:
    ys, xs = np.nonzero(mask)
    return 0 if not len(xs) else min(xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min())


def scored(result: Curated):
    """(tier, task, score, description) per checked QA row: MRA for numeric answers, 1 or 0 for agreement of a
    multiple-choice answer with the template solved on exact facts."""
    truths, maps, exact = {}, {}, {}
    for row in result.rows["qa"]:
        scene_id = row["scene_id"]
        if scene_id not in truths:
            truths[scene_id] = _truth(result.truth[scene_id], scene_id)
            maps[scene_id] = _object_map(result, scene_id, truths[scene_id])
        truth = truths[scene_id]
        ids = [maps[scene_id][oid] for oid in row["object_ids"]]
        answer = row["answer"]
        if answer["kind"] == "multiple_choice":
            key = (scene_id, tuple(row["video_frame_numbers"]))
            if key not in exact:
                exact[key] = _seen_in_masks(exact_scene_facts(
                    truth.scene.model_copy(update={"scene_id": scene_id}), truth.track,
                    list(row["video_frame_numbers"]), row["video_id"]), truth)
            expected = template_for(row["task_type"]).solve(exact[key], tuple(ids), dict(row["query"]))
            stored = answer["options"]["ABCDE".index(answer["correct_letter"])]
            yield row["scale"], row["task_type"], float(stored == expected), f"{stored!r} vs {expected!r}"
        elif row["task_type"] in NUMERIC_TASKS:
            expected = truth.numeric({**row, "object_ids": ids})
            score = mean_relative_accuracy(answer["value_si"], expected)
            yield row["scale"], row["task_type"], score, f"{answer['value_si']:.4g} vs {expected:.4g}"
