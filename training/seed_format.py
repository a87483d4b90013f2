"""The SpaceVista authors' names for our tiers and tasks, the answer fields of their benchmark items, and the
colours their loader draws prompts in.

The `seed` export and the scoring of the authors' results files read these tables; they are the one place the
mapping lives (README "Seed export" prints `task_code_table()`, and a test keeps the two equal).

Task codes are the ones the authors' scorers list (eval/metrics/spacevista.py in GitHub PeiwenSun2000/SpaceVista:
EXISTENCE … OBJECT_MATCHING for multiple choice, COUNTING … CAMERA_ROTATION for numbers). A variant is the part of a
QA's template_id before "/" (size_comparison "height/1" → height). Our tasks the authors have no code for keep our
name in upper case; their bench scorer (eval/metrics/spacevista_bench.py) groups by any code.

Frames: the authors' items, like every exported item, place a prompt on a frame by `image_index`, its 0-based place
in `videos[0]` (their loader and evaluator index the frame list with it), while our questions, QA rows and
prompts number frames from 1. training.export.image_index is the only translation (image_index = frame - 1).
"""

from __future__ import annotations

from qa_templates import (area_estimation, object_size, position_comparison, relative_distance, room_size,
                          size_comparison)
from schemas.qa import MultipleChoiceAnswer, NumericAnswer, TaskType, VisualPrompt
from schemas.tiers import ScaleTier

TIER_NAMES: dict[ScaleTier, str] = {
    ScaleTier.TINY_TABLETOP: "TinyTabletop",
    ScaleTier.TABLETOP: "Tabletop",
    ScaleTier.INDOOR: "Indoor",
    ScaleTier.OUTDOOR: "Outdoor",
    ScaleTier.DRONE: "Outdoor",
}
"""metadata.category: the authors' evaluator knows these four categories only; the paper folds drone into outdoor."""

CATEGORY_TIERS: dict[str, ScaleTier] = {name: tier for tier, name in reversed(TIER_NAMES.items())}
"""The tier an authors' category is read back as ("Outdoor" → outdoor)."""

TASK_CODES: dict[TaskType, str] = {
    TaskType.POSITION_COMPARISON: "POSITION_ACROSS_FRAME",
    TaskType.SIZE_COMPARISON: "COMPARISON_WIDTH",
    TaskType.EXISTENCE: "EXISTENCE",
    TaskType.OBJECT_COUNTING: "COUNTING",
    TaskType.ROTATION_ESTIMATION: "CAMERA_ROTATION",
    TaskType.ABSOLUTE_DISTANCE: "OBJECT_DISTANCE",
    TaskType.RELATIVE_DISTANCE: "OBJECT_RELATIVE_DISTANCE",
    TaskType.OBJECT_SIZE: "WIDTH",
    TaskType.ROOM_SIZE: "ROOM_SIZE",
    TaskType.DEPTH_ESTIMATION: "DEPTH",
    TaskType.ROUTE_PLANNING: "ROUTE_PLANNING",
    TaskType.APPEARANCE_ORDER: "APPEAR_ORDER",
    TaskType.VIEW_CHANGE: "CAMERA_MOVING",
    TaskType.OBJECT_MATCHING: "OBJECT_MATCHING",
    TaskType.SPATIAL_RELATION: "SPATIAL_RELATION",
    TaskType.NAVIGATION: "NAVIGATION",
    TaskType.AREA_ESTIMATION: "AREA_ESTIMATION",
    TaskType.MANIPULATION_PLANNING: "MANIPULATION_PLANNING",
    TaskType.OBSTACLE_LOCATION: "OBSTACLE_LOCATION",
}
"""The code of every variant of a task that VARIANT_CODES does not name."""

VARIANT_CODES: dict[tuple[TaskType, str], str] = {
    (TaskType.SIZE_COMPARISON, "height"): "COMPARISON_HEIGHT",
    (TaskType.OBJECT_SIZE, "height"): "HEIGHT",
}
"""Variants with a code of their own: heights. Longest side and footprint have only the width codes to go to."""

AUTHOR_CODES = frozenset({
    "EXISTENCE", "COMPARISON_HEIGHT", "COMPARISON_WIDTH", "POSITION_ACROSS_FRAME", "APPEAR_ORDER", "CAMERA_MOVING",
    "SPATIAL_RELATION", "OBJECT_MATCHING", "COUNTING", "DEPTH_all", "DEPTH", "HEIGHT", "WIDTH", "OBJECT_DISTANCE",
    "OBJECT_ROTATION", "ROOM_SIZE", "OBJECT_RELATIVE_DISTANCE", "CAMERA_ROTATION",
})
"""Every code the authors' scorers list (MCA_QUESTION_TYPES + NA_QUESTION_TYPES)."""

TASK_VARIANTS: dict[TaskType, tuple[str, ...]] = {
    TaskType.POSITION_COMPARISON: position_comparison.AXES,
    TaskType.SIZE_COMPARISON: tuple(size_comparison.MEASURES),
    TaskType.OBJECT_SIZE: tuple(object_size.PHRASINGS),
    TaskType.ROOM_SIZE: tuple(room_size.UNITS),
    TaskType.AREA_ESTIMATION: tuple(area_estimation.PHRASINGS),
    TaskType.RELATIVE_DISTANCE: relative_distance.ORDERS,
}
"""Template variants the table lists row by row (the other tasks have one variant)."""


AUTHOR_COLOURS = ("red", "blue", "green", "yellow")
"""The authors' loader's palette (COLORS_ORDER in eval/evaluate_api.py): a point or box in another colour is drawn
red; masks take these colours by list position; a dual_bbox's source is red and its targets blue, green…"""


def authors_draw_as_named(prompts: list[VisualPrompt]) -> bool:
    """Whether the authors' loader draws every point, box and mask in the colour the question names, the masks listed
    in palette order (the dual_bbox target excepted: it is alone on its frame, and drawn blue)."""
    masks = sorted((p.color for p in prompts if p.kind == "mask"), key=_palette_index)
    return all(p.color in AUTHOR_COLOURS for p in prompts) and masks == list(AUTHOR_COLOURS[:len(masks)])


def _palette_index(color: str) -> int:
    return AUTHOR_COLOURS.index(color) if color in AUTHOR_COLOURS else len(AUTHOR_COLOURS)


def in_palette_order(prompts: list[VisualPrompt]) -> list[VisualPrompt]:
    """The prompts ordered by the authors' palette (stable), so that masks listed in this order are drawn in the
    colour the question names."""
    return sorted(prompts, key=lambda p: _palette_index(p.color))


def task_code(task_type: TaskType, template_id: str) -> str:
    """The authors' code for a QA of `task_type` asked with template `template_id` ("<variant>/<phrasing>")."""
    return VARIANT_CODES.get((task_type, template_id.split("/", 1)[0]), TASK_CODES[task_type])


def task_code_table() -> list[tuple[str, str, str]]:
    """(task type, variant or "", code) for every task, in TaskType order: the table README prints."""
    rows = []
    for task in TaskType:
        variants = TASK_VARIANTS.get(task, ("",))
        rows += [(task.value, variant, task_code(task, f"{variant}/0")) for variant in variants]
    return rows


def seed_answer(answer: MultipleChoiceAnswer | NumericAnswer) -> tuple[str, str]:
    """(answer, unit) of a benchmark item: the option letter and "", or the number shown to the model, bare (the
    shortest text that reads back as the same float), and its unit."""
    if isinstance(answer, MultipleChoiceAnswer):
        return answer.correct_letter, ""
    value = answer.display_value
    return (str(int(value)) if value.is_integer() else repr(value)), answer.unit.value
