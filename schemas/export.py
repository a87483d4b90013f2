"""The export's configuration and the SpaceVista item it writes (SPEC.md "Formats": the public field names)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.qa import InputType, TaskType
from schemas.tiers import ScaleTier

ITEM_INPUT_TYPES: dict[InputType, str] = {
    InputType.TEXT: "image_text",
    InputType.POINT: "image_point_text",
    InputType.BBOX: "image_bbox_text",
    InputType.MASK: "image_mask_text",
    InputType.POINT_BBOX: "image_point_bbox_text",
}
"""QARow.input_type → the SpaceVista item's input_type."""

PROMPTS_BY_FORMAT: dict[str, Literal["drawn", "annotations"]] = {"spacevista": "drawn", "seed": "annotations"}
"""Default prompt delivery: LLaMA-Factory draws nothing, so spacevista frames come drawn; the authors' loaders draw
from `annotations`, so seed frames come clean."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TierBalance(_Frozen):
    """Scale-balanced sampling: each tier's share of the export, drawn without replacement."""

    weights: dict[ScaleTier, float] | None = Field(
        default=None, description="relative share per tier; None = an equal share for every tier that has rows")
    total: int | None = Field(
        default=None, ge=1, description="rows to take; None = as many as the shares allow without repeating a row")
    seed: int = 0

    @model_validator(mode="after")
    def _positive_weights(self):
        if self.weights is not None and (not self.weights or any(w < 0 for w in self.weights.values())
                                         or not any(w > 0 for w in self.weights.values())):
            raise ValueError(f"tier weights must be ≥ 0 with at least one > 0, got {self.weights}")
        return self


class ExportConfig(_Frozen):
    output_root: Path = Field(description="a curate output root: its `qa` (or `benchmark`) table is exported")
    export_dir: Path = Field(description="where the items, frames and dataset_info.json are written")
    table: Literal["qa", "benchmark"] = Field(
        default="qa", description="`benchmark` exports the held-out benchmark itself (no decontamination)")
    dataset_name: str = Field(default="spacevista", pattern=r"^[A-Za-z0-9_.-]+$",
                              description="file prefix and the dataset_info.json key")
    keep_rationale: bool = Field(default=True, description="False: the assistant says only <answer>…</answer>")
    tiers: tuple[ScaleTier, ...] | None = Field(default=None, description="None = every tier")
    tasks: tuple[TaskType, ...] | None = Field(default=None, description="None = every task type")
    answer_types: tuple[Literal["multiple_choice", "numeric"], ...] | None = None
    balance: TierBalance | None = Field(default=None, description="None = every row that passes the filters")
    drawn_frame_format: Literal["png", "jpg"] = Field(
        default="png", description="png: lossless, only the prompt's pixels change; jpg (quality 95): ~4× smaller "
                                   "files, but re-encoding shifts pixels slightly everywhere")
    benchmark_root: Path | None = Field(
        default=None, description="output root holding the `benchmark_scenes` registry; None = output_root")
    refuse_contaminated: bool = Field(
        default=False, description="raise instead of dropping rows whose scene or video is in the benchmark")
    format: Literal["spacevista", "seed"] = Field(
        default="spacevista", description="spacevista: items JSONL, ShareGPT + dataset_info.json, Parquet; seed: the "
                                          "authors' SpaceVista-Full / -Bench items (JSON array + Parquet)")
    prompts: Literal["drawn", "annotations"] | None = Field(
        default=None, description="drawn: frames with the visual prompts drawn, annotations empty; annotations: the "
                                  "frames as curated, the prompts in `annotations` for the loader to draw (seed: "
                                  "an item the authors' loader would draw in other colours comes drawn); "
                                  "None = the format's default (PROMPTS_BY_FORMAT)")

    @property
    def prompt_mode(self) -> Literal["drawn", "annotations"]:
        """How the visual prompts reach the model: never drawn and annotated both."""
        return self.prompts or PROMPTS_BY_FORMAT[self.format]


IMAGE_INDEX = ("the prompt's frame as its 0-based place in `videos[0]` (the public format's field): the question's "
               "frame k is image_index k - 1")


class PointAnnotation(_Frozen):
    coords: list[float] = Field(description="pixels of the exported frame: [x, y]; in the seed format [y, x], the "
                                            "order the authors' evaluator reads")
    image_index: int = Field(ge=0, description=IMAGE_INDEX)
    color: str


class BoxAnnotation(_Frozen):
    coords: list[float] = Field(description="[x1, y1, x2, y2] in pixels of the exported frame")
    image_index: int = Field(ge=0, description=IMAGE_INDEX)
    color: str


class DualBoxAnnotation(_Frozen):
    """One object boxed on two frames (object matching): the first-named box is the source."""

    source_image: str = Field(description="the source box's frame, as listed in `videos`")
    source_bbox: list[float] = Field(description="[x1, y1, x2, y2] in pixels")
    target_image: str
    target_bboxes: list[list[float]]


class MaskAnnotation(_Frozen):
    image_path: str = Field(description="the exported frame the mask lies on, relative to the export directory")
    mask_path: str = Field(description="binary PNG (0/255), relative to the export directory")
    object_ids: list[str]


class SeedMaskAnnotation(_Frozen):
    image_path: str = Field(description="the exported frame the mask lies on, relative to the export directory")
    mask_path: str = Field(description=".npy array of the frame's size: the object's pixels hold its instance id, "
                                       "the rest 0")
    object_ids: list[int] = Field(description="the instance ids to select from the array")


class ItemAnnotations(_Frozen):
    """Visual prompts: a kind the item does not use is an empty list (dual_bbox: null). Two boxes on two frames
    are the dual_bbox and not listed in bboxes, so a loader draws each once."""

    points: list[PointAnnotation] = []
    bboxes: list[BoxAnnotation] = []
    masks: list[MaskAnnotation] = []
    dual_bbox: DualBoxAnnotation | None = None


class SeedAnnotations(ItemAnnotations):
    masks: list[SeedMaskAnnotation] = []  # type: ignore[assignment]


class Message(_Frozen):
    role: Literal["user", "assistant"]
    content: str


class ItemMetadata(_Frozen):
    scene_source: str
    original_id: str = Field(description="the scene the item was asked about")
    category: ScaleTier
    scale: str = Field(description="the tier's length unit (mm, cm, m)")
    original_type: TaskType


class _Item(_Frozen):
    """What every exported item holds: the user turn (`<video>` + question), the answer turn, the frame files."""

    id: str
    input_type: Literal["image_text", "image_point_text", "image_bbox_text", "image_mask_text",
                        "image_point_bbox_text"]
    messages: list[Message] = Field(min_length=2, max_length=2)
    videos: list[list[str]] = Field(min_length=1, max_length=1, description="one video given as its frame files")


class SpaceVistaItem(_Item):
    """One exported item in the spacevista format (the JSONL line and the Parquet row)."""

    annotations: ItemAnnotations
    metadata: ItemMetadata


class SeedMetadata(_Frozen):
    scene_source: str = Field(description="the scene the item was asked about")
    original_id: str = Field(description="'<source dataset>/<scene id>'")
    category: Literal["TinyTabletop", "Tabletop", "Indoor", "Outdoor"] = Field(
        description="the authors' name of the tier (training.seed_format.TIER_NAMES)")
    scale: str = Field(description="the tier's length unit (mm, cm, m)")
    original_type: str = Field(description="the authors' task code (training.seed_format.task_code)")


class SeedItem(_Item):
    """One item as in the authors' SpaceVista-Full release (their JSON array's element)."""

    annotations: SeedAnnotations
    metadata: SeedMetadata


class SeedBenchItem(SeedItem):
    """One item as in the authors' SpaceVista-Bench: the question and its answer at the top level as well."""

    question: str
    answer: str = Field(description="the option letter, or the number shown to the model, bare (\"2.53\")")
    unit: str = Field(description="the number's unit (DisplayUnit: mm, cm, m, km, m2, m3, deg, count); '' for a "
                                  "letter")
