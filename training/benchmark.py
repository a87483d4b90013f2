"""The benchmark split: QA on held-out scenes with exact annotations, generated from exact boxes only.

SPEC.md: specialists are not reliable evaluators, so benchmark QA come from `exact_scene_facts` (annotated 3D boxes
+ native cameras), never from lifted or specialist facts. Held-out scenes are registered (scene id + video content
hash) in `benchmark_scenes`; training exports drop every row of a registered scene or video.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from facts.exact import exact_scene_facts
from qa_templates.generate import generate_scene_qa
from schemas.annotations import CAMERAS_FILE, SCENE_FILE, CameraTrack, SceneAnnotation
from schemas.arrow import to_arrow
from schemas.benchmark import EXACT_MARKER_FILE, BenchmarkConfig, BenchmarkSceneRow
from schemas.paths import OutsideDataRootError, data_root_tag, inside_root
from schemas.qa import QARow
from sources import annotated
from sources.discovery import VideoItem, curated_scene_id
from storage.catalog import query, refresh_catalog
from storage.commits import commit_shard, committed_shards, read_manifest, stage_table
from storage.layout import OutputLayout

REGISTRY_SHARD = "benchmark-registry"


class BenchmarkError(RuntimeError):
    """The build cannot start (no curated tables to read); the message names the fix."""


class SceneError(ValueError):
    """One held-out scene cannot be built; the message names the scene's input and the problem."""


class SkippedScene(BaseModel):
    model_config = ConfigDict(frozen=True)

    scene_id: str
    reason: str


class BenchmarkReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    run_id: str
    n_exact_scenes: int
    held_out: list[str]
    n_qa: int
    qa_per_tier: dict[str, int]
    n_rejects: int
    skipped: list[SkippedScene]


@dataclass(frozen=True)
class _ExactScene:
    item: VideoItem
    annotation: SceneAnnotation


@dataclass(frozen=True)
class _BuiltScene:
    registry: BenchmarkSceneRow
    rows: list[QARow]
    n_rejects: int


def split_value(scene_id: str, salt: str) -> float:
    """A scene's position in [0, 1) for the hash split: stable across runs, machines and data roots."""
    digest = hashlib.sha256(f"{salt}:{scene_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def build_benchmark_split(config: BenchmarkConfig) -> BenchmarkReport:
    """Choose the held-out exact scenes, generate their QA from exact boxes, and publish `benchmark` and
    `benchmark_scenes` (replacing the previous build: scenes no longer held out leave both tables)."""
    layout = OutputLayout(config.output_root)
    if not read_manifest(layout, "videos")["files"]:
        raise BenchmarkError(f"{layout.root}: no `videos` table; run `spacevista curate --data-root "
                             f"{config.data_root} --output {layout.root}` first (the benchmark reuses its keyframes)")
    run_id = f"bench-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    skipped: list[SkippedScene] = []
    exact = _exact_scenes(config, skipped)
    held = _held_out(exact, config, skipped)
    videos = dict(_rows(layout, "SELECT scene_id, video_id FROM videos WHERE source = ?", [annotated.SOURCE]))
    frames: dict[str, dict[int, str]] = {}
    for video_id, frame_index, path in _rows(layout, "SELECT video_id, frame_index, path FROM frames", []):
        frames.setdefault(video_id, {})[frame_index] = path
    built = []
    for scene in held:
        try:
            built.append(_build_scene(scene, videos, frames, config, run_id))
        except (SceneError, OutsideDataRootError) as err:
            skipped.append(SkippedScene(scene_id=scene.item.scene_id, reason=str(err)))
    _publish(layout, built, run_id)
    tiers = Counter(row.scale.value for scene in built for row in scene.rows)
    return BenchmarkReport(run_id=run_id, n_exact_scenes=len(exact),
                           held_out=[scene.registry.scene_id for scene in built],
                           n_qa=sum(tiers.values()), qa_per_tier=dict(sorted(tiers.items())),
                           n_rejects=sum(scene.n_rejects for scene in built), skipped=skipped)


def read_registry(layout: OutputLayout) -> list[BenchmarkSceneRow]:
    """The held-out scenes registered under an output root (empty when no benchmark was built there)."""
    if not read_manifest(layout, "benchmark_scenes")["files"]:
        return []
    return [BenchmarkSceneRow.model_validate(row)
            for row in query(layout, "SELECT * FROM benchmark_scenes ORDER BY scene_id").to_pylist()]


def _exact_scenes(config: BenchmarkConfig, skipped: list[SkippedScene]) -> list[_ExactScene]:
    """Annotated scenes whose source is exact or whose directory carries the exact marker."""
    exact = []
    for item in annotated.discover(config.data_root):
        try:
            annotation = _read_model(config.data_root, item.annotations_dir / SCENE_FILE, SceneAnnotation)
        except (SceneError, OutsideDataRootError) as err:
            skipped.append(SkippedScene(scene_id=item.scene_id, reason=str(err)))
            continue
        if annotation.source in config.exact_sources or (item.annotations_dir / EXACT_MARKER_FILE).is_file():
            exact.append(_ExactScene(item=item, annotation=annotation))
        elif config.held_out_scene_ids and item.scene_id in config.held_out_scene_ids:
            skipped.append(SkippedScene(scene_id=item.scene_id, reason=(
                f"{item.annotations_dir / SCENE_FILE}: source {annotation.source!r} is not exact (exact sources: "
                f"{', '.join(config.exact_sources)}; or add a {EXACT_MARKER_FILE} file to the scene directory)")))
    return exact


def _held_out(exact: list[_ExactScene], config: BenchmarkConfig, skipped: list[SkippedScene]) -> list[_ExactScene]:
    if config.held_out_scene_ids is None:
        return [s for s in exact if split_value(s.item.scene_id, config.split_salt) < config.held_out_fraction]
    wanted = set(config.held_out_scene_ids)
    found = {s.item.scene_id for s in exact} | {s.scene_id for s in skipped}
    skipped.extend(SkippedScene(scene_id=scene_id, reason=f"no annotated scene directory {scene_id!r} under "
                                                          f"{config.data_root}")
                   for scene_id in sorted(wanted - found))
    return [s for s in exact if s.item.scene_id in wanted]


def _build_scene(scene: _ExactScene, videos: dict[str, str], frames: dict[str, dict[int, str]],
                 config: BenchmarkConfig, run_id: str) -> _BuiltScene:
    """QA of one held-out scene from its exact boxes, on the keyframes curate stored for its video; the scene is
    found, and its rows named, by the id curate gave it (rooted in the data root, as every curated scene id)."""
    item = scene.item
    scene_id = curated_scene_id(item.scene_id, data_root_tag(config.data_root))
    video_id = videos.get(scene_id)
    if video_id is None:
        raise SceneError(f"{item.uri}: not curated into {config.output_root} (no `videos` row); run "
                         f"`spacevista curate` on {config.data_root} into it first")
    if not frames.get(video_id):
        raise SceneError(f"{item.uri}: video {video_id[:12]} has no keyframes in the `frames` table")
    frame_paths = frames[video_id]
    track = _read_model(config.data_root, item.annotations_dir / CAMERAS_FILE, CameraTrack)
    keyframes = sorted(frame_paths)
    missing = sorted(set(keyframes) - {f.index for f in track.frames})
    if missing:
        raise SceneError(f"{item.annotations_dir / CAMERAS_FILE}: no pose for keyframes {missing}")
    annotation = scene.annotation.model_copy(update={"scene_id": scene_id})
    facts = exact_scene_facts(annotation, track, keyframes, video_id, frame_paths=frame_paths)
    qa = generate_scene_qa(facts, run_id, config.seed)
    selection = "hash" if config.held_out_scene_ids is None else "explicit"
    registry = BenchmarkSceneRow(scene_id=scene_id, video_id=video_id, uri=item.uri, scale=facts.scene.scale,
                                 source=scene.annotation.source, selection=selection, n_qa=len(qa.rows),
                                 run_id=run_id)
    return _BuiltScene(registry=registry, rows=qa.rows, n_rejects=len(qa.rejects))


def _publish(layout: OutputLayout, built: list[_BuiltScene], run_id: str) -> None:
    """At every moment each scene with rows in `benchmark` is registered: the registry first holds the old and the
    new held-out scenes, then the benchmark rows are replaced, then the registry is narrowed to the new ones."""
    registry = [scene.registry for scene in built]
    keys = {(r.scene_id, r.video_id) for r in registry}
    _commit_registry(layout, registry + [r for r in read_registry(layout) if (r.scene_id, r.video_id) not in keys],
                     run_id)
    shards = set()
    for scene in built:
        shard = "bench-" + hashlib.sha256(scene.registry.uri.encode()).hexdigest()[:16]
        shards.add(shard)
        commit_shard(layout, "benchmark", shard,
                     stage_table(layout, "benchmark", to_arrow(scene.rows, QARow), shard), run_id)
    stale = committed_shards(layout, "benchmark") - shards
    for shard in sorted(stale):
        commit_shard(layout, "benchmark", shard, [], run_id)
    _commit_registry(layout, registry, run_id)
    refresh_catalog(layout)


def _commit_registry(layout: OutputLayout, rows: list[BenchmarkSceneRow], run_id: str) -> None:
    commit_shard(layout, "benchmark_scenes", REGISTRY_SHARD,
                 stage_table(layout, "benchmark_scenes", to_arrow(rows, BenchmarkSceneRow), REGISTRY_SHARD), run_id)


def _rows(layout: OutputLayout, sql: str, parameters: list) -> list[tuple]:
    table = query(layout, sql, parameters)
    return list(zip(*(table.column(i).to_pylist() for i in range(table.num_columns))))


def _read_model(root: Path, path: Path, model: type[BaseModel]):
    path = inside_root(root, path)
    if not path.is_file():
        raise SceneError(f"{path}: missing")
    try:
        return model.model_validate_json(path.read_text())
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise SceneError(f"{path}: {where}: {first['msg']}") from None
