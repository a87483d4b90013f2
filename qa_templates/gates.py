"""Quality gates shared by all templates; each failed gate is a Drop with a stable reason name."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from qa_templates.base import Drop
from schemas.facts import ObjectFact, SceneFact, SceneFacts, Sighting
from schemas.qa import TaskType

NEAR_TIE = "near_tie"
SEEN_TOO_BRIEFLY = "seen_too_briefly"
PARTIALLY_OBSERVED = "partially_observed"
FOOTPRINT_AMBIGUOUS = "footprint_ambiguous"
HEIGHT_UNRESOLVED = "height_unresolved"
COUNT_OUT_OF_RANGE = "count_out_of_range"
AMBIGUOUS_REFERENCE = "ambiguous_reference"
NOT_ENOUGH_OBJECTS = "not_enough_objects"
NO_VALID_PLAN = "no_valid_plan"
SCALE_UNCERTAIN = "scale_uncertain"
NON_METRIC_SOURCE = "non_metric_source"
WEAK_RECONSTRUCTION = "weak_reconstruction"
"""The SfM reconstruction a scene rests on registered too few keyframes, has no baseline, never turns (focal length
unobservable) or disagrees with the depth: every task whose answer rests on its geometry is dropped."""
VISIBLE_TOO_SMALL = "visible_too_small"
"""An instance of the category shows in the video but never at 20×20 px in a keyframe: a question about what
appears in the video would hinge on whether it counts."""
UNPLACED_SIGHTING = "unplaced_sighting"
"""An instance shows in the video but is neither an object nor placed by a keyframe with depth (no bounds): a plan
or a slide could run into it unseen."""

METRIC_POWER = {TaskType.ABSOLUTE_DISTANCE: 1, TaskType.OBJECT_SIZE: 1, TaskType.DEPTH_ESTIMATION: 1,
                TaskType.AREA_ESTIMATION: 2, TaskType.ROOM_SIZE: 3}
"""Tasks whose answer is a metric quantity, and the power of length it scales with (a scale error e becomes
about power × e in the answer); other tasks compare, count or turn and do not depend on the metric scale."""
POSE_FREE_TASKS = frozenset({TaskType.OBJECT_COUNTING, TaskType.APPEARANCE_ORDER, TaskType.OBJECT_MATCHING})
"""Tasks answered from instance masks and frame order alone: no camera pose or 3D position enters their answer."""


@dataclass(frozen=True)
class QualityGates:
    near_tie_margin: float = 0.15
    """Comparisons need the larger quantity ≥ (1 + margin) × the smaller."""
    min_keyframes_seen: int = 2
    min_footprint_coverage: float = 0.7
    """Share of the object's footprint outline backed by points before its size/centre are trusted."""
    count_range: tuple[int, int] = (2, 10)
    min_height_px: float = 3.0
    """Heights spanning fewer pixels than this in the nearest complete view are not asked about."""
    max_scale_error: float = 0.05
    """Largest calibrated uncertainty (the relative error an estimated SfM scale stays within in 95 % of
    calibration scenes, × the task's power of length) that metric QA may rest on: an answer off by under 5 % passes
    9 of MRA's 10 thresholds (benchmarks.scale_calibration)."""


GATES = QualityGates()


def passing(objects: Iterable[ObjectFact], gate: Callable[[ObjectFact], Drop | None]
            ) -> tuple[list[ObjectFact], list[Drop]]:
    """Split objects into those that pass `gate` and the drops of those that do not."""
    ready, drops = [], []
    for obj in objects:
        drop = gate(obj)
        (ready if drop is None else drops).append(obj if drop is None else drop)
    return ready, drops


def near_tie(a: float, b: float, margin: float = GATES.near_tie_margin) -> bool:
    """True when two positive quantities are too close to compare reliably."""
    small, large = sorted((abs(a), abs(b)))
    return large < small * (1.0 + margin)


def seen_enough(obj: ObjectFact) -> Drop | None:
    if obj.n_keyframes_seen < GATES.min_keyframes_seen:
        return Drop(SEEN_TOO_BRIEFLY, f"{obj.object_id} in {obj.n_keyframes_seen} keyframe(s)")
    return None


def metric_ready(obj: ObjectFact) -> Drop | None:
    """Gate for questions about an object's size or centre: seen often enough, and, where its box was lifted from
    points, at least once whole (not cut or hidden) with its footprint pinned down by complete views, and no second
    footprint explaining its points as well."""
    if (drop := seen_enough(obj)) is not None or obj.from_box:
        return drop
    if obj.n_complete_views < 1 or obj.footprint_coverage < GATES.min_footprint_coverage:
        return Drop(PARTIALLY_OBSERVED, f"{obj.object_id} footprint coverage {obj.footprint_coverage:.2f}")
    if obj.footprint_ambiguous:
        return Drop(FOOTPRINT_AMBIGUOUS, f"{obj.object_id}: two footprints explain its points equally well")
    return None


def height_resolved(obj: ObjectFact) -> Drop | None:
    """Gate for questions about an object's height: a field seen from 200 m is a flat patch in every view."""
    if obj.height_px < GATES.min_height_px:
        return Drop(HEIGHT_UNRESOLVED, f"{obj.object_id} is {obj.height_px:.1f} px tall at most")
    return None


def scale_trusted(scene: SceneFact, task: TaskType) -> Drop | None:
    """Gate for a whole metric task on a scene whose scale was estimated: the reconstruction behind it must not be
    weak (that gates every task but the pose-free ones: its poses are not to be trusted either), and its
    uncertainty, raised to the task's power of length, must stay within what MRA tolerates. Native (metric) scenes
    always pass; a scene left in its source's own units (no metric structure to scale it by) never does."""
    power = METRIC_POWER.get(task, 0)
    if power and not scene.metric:
        return Drop(NON_METRIC_SOURCE, f"{scene.scene_id}: {scene.source} poses are not metric and nothing "
                                       f"put them to scale")
    if scene.scale_weakness and task not in POSE_FREE_TASKS:
        return Drop(WEAK_RECONSTRUCTION, f"{scene.scene_id}: {scene.scale_weakness}")
    if scene.scale_uncertainty is None or power * scene.scale_uncertainty <= GATES.max_scale_error:
        return None
    return Drop(SCALE_UNCERTAIN, f"{scene.scene_id}: {scene.scale_method} scale uncertain by "
                                 f"{scene.scale_uncertainty:.1%} (×{power} for {task.value})")


def count_in_range(count: int) -> Drop | None:
    low, high = GATES.count_range
    if not low <= count <= high:
        return Drop(COUNT_OUT_OF_RANGE, f"count {count} outside {low}–{high}")
    return None


def all_instances_resolved(facts: SceneFacts, category: str) -> Drop | None:
    """Gate for questions about the instances of a category that appear in the video (counting, existence): every
    instance that shows at pixel level, in any frame whose masks are known, must be an object of the facts."""
    objects = {o.instance_id for o in facts.objects}
    small = [s.instance_id for s in facts.scene.sightings if s.category == category and s.instance_id not in objects]
    if small:
        return Drop(VISIBLE_TOO_SMALL, f"{category} instance(s) {small} show in the video "
                                       f"({facts.scene.sightings_from}) but never at 20×20 px in a keyframe")
    return None


def sighted_obstacles(facts: SceneFacts) -> list[Sighting] | Drop:
    """The instances that show but are not objects of the facts, each with the bounds it lies within, for planners
    to keep clear of; a Drop when one of them has no bounds (it shows only where no keyframe with depth places it)."""
    objects = {o.instance_id for o in facts.objects}
    sighted = [s for s in facts.scene.sightings if s.instance_id not in objects]
    unplaced = [s.instance_id for s in sighted if s.bounds is None]
    if unplaced:
        return Drop(UNPLACED_SIGHTING, f"instance(s) {unplaced} show in the video but no keyframe with depth "
                                       f"places them")
    return sighted


def first_showing(facts: SceneFacts, obj: ObjectFact) -> int:
    """The first frame with any pixel of the object (its sighting), which may come before the first keyframe where
    it is seen clearly (`first_seen_frame`)."""
    return next((s.first_frame for s in facts.scene.sightings if s.instance_id == obj.instance_id),
                obj.first_seen_frame)
