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


class PointAnnotation(_Frozen):
    coords: list[float] = Field(description="[x, y] in pixels")
    image_index: int = Field(ge=0)
    color: str


class BoxAnnotation(_Frozen):
    coords: list[float] = Field(description="[x1, y1, x2, y2] in pixels")
    image_index: int = Field(ge=0)
    color: str


class MaskAnnotation(_Frozen):
    image_path: str = Field(description="the exported frame the mask lies on, relative to the export directory")
    mask_path: str = Field(description="binary PNG (0/255), relative to the export directory")
    object_ids: list[str]


class ItemAnnotations(_Frozen):
    """Visual prompts; a kind the item does not use is null. dual_bbox: two boxes on two different frames."""

    points: list[PointAnnotation] | None
    bboxes: list[BoxAnnotation] | None
    masks: list[MaskAnnotation] | None
    dual_bbox: list[BoxAnnotation] | None


class Message(_Frozen):
    role: Literal["user", "assistant"]
    content: str


class ItemMetadata(_Frozen):
    scene_source: str
    original_id: str = Field(description="the scene the item was asked about")
    category: ScaleTier
    scale: str = Field(description="the tier's length unit (mm, cm, m)")
    original_type: TaskType


class SpaceVistaItem(_Frozen):
    """One exported item in SpaceVista's released format (the JSONL line and the Parquet row)."""

    id: str
    input_type: Literal["image_text", "image_point_text", "image_bbox_text", "image_mask_text",
                        "image_point_bbox_text"]
    messages: list[Message] = Field(min_length=2, max_length=2)
    videos: list[list[str]] = Field(min_length=1, max_length=1, description="one video given as its frame files")
    annotations: ItemAnnotations
    metadata: ItemMetadata
