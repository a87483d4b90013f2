"""QA rows: question, rationale + <answer>, the typed answer (a discriminated union on task type), visual prompts."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.facts import Provenance
from schemas.tiers import DisplayUnit, ScaleTier


class TaskType(str, Enum):
    POSITION_COMPARISON = "position_comparison"
    SIZE_COMPARISON = "size_comparison"
    EXISTENCE = "existence"
    OBJECT_COUNTING = "object_counting"
    ROTATION_ESTIMATION = "rotation_estimation"
    ABSOLUTE_DISTANCE = "absolute_distance"
    RELATIVE_DISTANCE = "relative_distance"
    OBJECT_SIZE = "object_size"
    ROOM_SIZE = "room_size"
    DEPTH_ESTIMATION = "depth_estimation"
    ROUTE_PLANNING = "route_planning"
    APPEARANCE_ORDER = "appearance_order"
    VIEW_CHANGE = "view_change"
    OBJECT_MATCHING = "object_matching"
    SPATIAL_RELATION = "spatial_relation"
    NAVIGATION = "navigation"
    AREA_ESTIMATION = "area_estimation"
    MANIPULATION_PLANNING = "manipulation_planning"
    OBSTACLE_LOCATION = "obstacle_location"


ALL_TIERS = frozenset(ScaleTier)
TASK_TIERS: dict[TaskType, frozenset[ScaleTier]] = {
    **{task: ALL_TIERS for task in TaskType},
    TaskType.ROOM_SIZE: frozenset({ScaleTier.INDOOR}),
    TaskType.ROUTE_PLANNING: frozenset({ScaleTier.INDOOR, ScaleTier.DRONE}),
    TaskType.NAVIGATION: frozenset({ScaleTier.OUTDOOR}),
    TaskType.AREA_ESTIMATION: frozenset({ScaleTier.DRONE}),
    TaskType.MANIPULATION_PLANNING: frozenset({ScaleTier.TABLETOP, ScaleTier.TINY_TABLETOP}),
    TaskType.OBSTACLE_LOCATION: frozenset({ScaleTier.TABLETOP, ScaleTier.TINY_TABLETOP}),
}
"""Which tiers each task is asked in (SPEC.md)."""


class InputType(str, Enum):
    TEXT = "text"
    POINT = "point"
    BBOX = "bbox"
    MASK = "mask"
    POINT_BBOX = "point_bbox"


OPTION_LETTERS = ("A", "B", "C", "D", "E")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MultipleChoiceAnswer(_Frozen):
    """An MC answer: options in display order and the correct letter."""

    kind: Literal["multiple_choice"] = "multiple_choice"
    options: list[str] = Field(min_length=2, max_length=5)
    correct_letter: Literal["A", "B", "C", "D", "E"]

    @model_validator(mode="after")
    def _letter_in_range(self):
        if OPTION_LETTERS.index(self.correct_letter) >= len(self.options):
            raise ValueError(f"correct_letter {self.correct_letter} is beyond the {len(self.options)} options")
        if len(set(self.options)) != len(self.options):
            raise ValueError(f"options repeat: {self.options}")
        return self

    @property
    def correct_option(self) -> str:
        return self.options[OPTION_LETTERS.index(self.correct_letter)]


class YesNoAnswer(MultipleChoiceAnswer):
    @model_validator(mode="after")
    def _yes_no(self):
        if sorted(self.options) != ["no", "yes"]:
            raise ValueError(f"a yes/no answer needs options yes and no, got {self.options}")
        return self


class NumericAnswer(_Frozen):
    """A numeric answer: SI value (m, m², m³, degrees, count, ratio) and the value shown in the tier's unit."""

    kind: Literal["numeric"] = "numeric"
    value_si: float = Field(allow_inf_nan=False)
    unit: DisplayUnit
    display_value: float = Field(allow_inf_nan=False)


class PositiveLength(NumericAnswer):
    value_si: float = Field(gt=0, allow_inf_nan=False)
    unit: Literal[DisplayUnit.MM, DisplayUnit.CM, DisplayUnit.M, DisplayUnit.KM]


def _answer(name: str, task: TaskType, base: type[BaseModel], **fields) -> type[BaseModel]:
    """One answer model per task: `base` plus a `task_type` literal that discriminates the union."""
    from pydantic import create_model

    return create_model(name, __base__=base, task_type=(Literal[task.value], task.value), **fields)  # type: ignore[call-overload]


PositionComparisonAnswer = _answer("PositionComparisonAnswer", TaskType.POSITION_COMPARISON, MultipleChoiceAnswer)
SizeComparisonAnswer = _answer("SizeComparisonAnswer", TaskType.SIZE_COMPARISON, MultipleChoiceAnswer)
ExistenceAnswer = _answer("ExistenceAnswer", TaskType.EXISTENCE, YesNoAnswer)
ObjectCountingAnswer = _answer(
    "ObjectCountingAnswer", TaskType.OBJECT_COUNTING, NumericAnswer,
    value_si=(float, Field(ge=1, multiple_of=1)), unit=(Literal[DisplayUnit.COUNT], DisplayUnit.COUNT))
RotationEstimationAnswer = _answer(
    "RotationEstimationAnswer", TaskType.ROTATION_ESTIMATION, NumericAnswer,
    value_si=(float, Field(gt=0, le=180)), unit=(Literal[DisplayUnit.DEG], DisplayUnit.DEG))
AbsoluteDistanceAnswer = _answer("AbsoluteDistanceAnswer", TaskType.ABSOLUTE_DISTANCE, PositiveLength)
RelativeDistanceAnswer = _answer("RelativeDistanceAnswer", TaskType.RELATIVE_DISTANCE, MultipleChoiceAnswer)
ObjectSizeAnswer = _answer("ObjectSizeAnswer", TaskType.OBJECT_SIZE, PositiveLength)
RoomSizeAnswer = _answer(
    "RoomSizeAnswer", TaskType.ROOM_SIZE, NumericAnswer,
    value_si=(float, Field(gt=0)), unit=(Literal[DisplayUnit.M2, DisplayUnit.M3], DisplayUnit.M2))
DepthEstimationAnswer = _answer("DepthEstimationAnswer", TaskType.DEPTH_ESTIMATION, PositiveLength)
RoutePlanningAnswer = _answer("RoutePlanningAnswer", TaskType.ROUTE_PLANNING, MultipleChoiceAnswer)
AppearanceOrderAnswer = _answer("AppearanceOrderAnswer", TaskType.APPEARANCE_ORDER, MultipleChoiceAnswer)
ViewChangeAnswer = _answer("ViewChangeAnswer", TaskType.VIEW_CHANGE, MultipleChoiceAnswer)
ObjectMatchingAnswer = _answer("ObjectMatchingAnswer", TaskType.OBJECT_MATCHING, YesNoAnswer)
SpatialRelationAnswer = _answer("SpatialRelationAnswer", TaskType.SPATIAL_RELATION, MultipleChoiceAnswer)
NavigationAnswer = _answer("NavigationAnswer", TaskType.NAVIGATION, MultipleChoiceAnswer)
AreaEstimationAnswer = _answer(
    "AreaEstimationAnswer", TaskType.AREA_ESTIMATION, NumericAnswer,
    value_si=(float, Field(gt=0)), unit=(Literal[DisplayUnit.M2], DisplayUnit.M2))
ManipulationPlanningAnswer = _answer("ManipulationPlanningAnswer", TaskType.MANIPULATION_PLANNING,
                                     MultipleChoiceAnswer)
ObstacleLocationAnswer = _answer("ObstacleLocationAnswer", TaskType.OBSTACLE_LOCATION, MultipleChoiceAnswer)

TaskAnswer = Annotated[
    Union[
        PositionComparisonAnswer, SizeComparisonAnswer, ExistenceAnswer, ObjectCountingAnswer,  # type: ignore[valid-type]
        RotationEstimationAnswer, AbsoluteDistanceAnswer, RelativeDistanceAnswer, ObjectSizeAnswer,  # type: ignore[valid-type]
        RoomSizeAnswer, DepthEstimationAnswer, RoutePlanningAnswer, AppearanceOrderAnswer,  # type: ignore[valid-type]
        ViewChangeAnswer, ObjectMatchingAnswer, SpatialRelationAnswer, NavigationAnswer,  # type: ignore[valid-type]
        AreaEstimationAnswer, ManipulationPlanningAnswer, ObstacleLocationAnswer,  # type: ignore[valid-type]
    ],
    Field(discriminator="task_type"),
]


class VisualPrompt(_Frozen):
    """A point, box or mask drawn on one of the QA's frames to refer to an object."""

    kind: Literal["point", "bbox", "mask"]
    frame: int = Field(ge=1, description="the frame it is drawn on, numbered as the question numbers it: frame k is "
                                         "the k-th frame shown, frame_paths[k - 1]")
    object_id: str
    coords: list[float] = Field(description="point: [x, y]; bbox: [x1, y1, x2, y2]; mask: []")
    mask_path: str | None = None
    color: str


class QARow(_Frozen):
    """One validated question/answer pair (table `qa`, partitioned by scale and task_type)."""

    qa_id: str = Field(min_length=16)
    run_id: str
    scene_id: str
    video_id: str
    source: str
    scale: ScaleTier
    task_type: TaskType
    input_type: InputType
    template_id: str
    question: str = Field(min_length=10)
    rationale: str = Field(min_length=1)
    response: str = Field(pattern=r"(?s)<answer>.+</answer>\s*$")
    answer: TaskAnswer
    video_frame_numbers: list[int] = Field(
        min_length=1, description="the video's own frame numbers (from 0) of the frames shown, in the order shown; "
                                  "not the frame numbers the question uses (frame k is the k-th of these)")
    frame_paths: list[str] = Field(min_length=1)
    object_ids: list[str]
    query: dict[str, str] = Field(description="the question's parameters (dimension, relation…); a frame it names is "
                                              "stored as its video frame number (`video_frame`, `video_frame_a`…)")
    visual_prompts: list[VisualPrompt]
    provenance: Provenance

    @property
    def named_frames(self) -> list[int]:
        """The frames the question names, by frame number (from 1): its visual prompts' frames and the frames its
        query gives as video frame numbers (`video_frame`, `video_frame_a`…)."""
        asked = {self.video_frame_numbers.index(int(v)) + 1 for v in self._query_video_frames()}
        return sorted(asked | {p.frame for p in self.visual_prompts})

    def _query_video_frames(self) -> list[str]:
        return [v for k, v in self.query.items() if k.startswith("video_frame")]

    @model_validator(mode="after")
    def _consistent(self):
        if self.answer.task_type != self.task_type.value:
            raise ValueError(f"answer is for {self.answer.task_type}, row is {self.task_type.value}")
        if self.scale not in TASK_TIERS[self.task_type]:
            raise ValueError(f"task {self.task_type.value} is not asked in tier {self.scale.value}")
        if self.answer.kind == "multiple_choice":
            missing = [f"{OPTION_LETTERS[i]}. {text}" for i, text in enumerate(self.answer.options)
                       if f"{OPTION_LETTERS[i]}. {text}" not in self.question]
            if missing:
                raise ValueError(f"multiple-choice question does not list its options {missing}")
        if len(self.frame_paths) != len(self.video_frame_numbers):
            raise ValueError("frame_paths and video_frame_numbers differ in length")
        if any(p.frame > len(self.frame_paths) for p in self.visual_prompts):
            raise ValueError("a visual prompt refers to a frame the QA does not show")
        if any(int(v) not in self.video_frame_numbers for v in self._query_video_frames()):
            raise ValueError("the query names a video frame the QA does not show")
        expected = InputType.TEXT if not self.visual_prompts else None
        if expected is not None and self.input_type != expected:
            raise ValueError(f"input_type {self.input_type.value} but no visual prompt given")
        return self


class RejectRow(_Frozen):
    """A candidate that failed validation: kept with the reason, never in `qa` (table `rejects`)."""

    run_id: str
    scene_id: str
    task_type: str
    qa_id: str | None
    reason: str
    payload_json: str
