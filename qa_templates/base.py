"""The one base a task template subclasses, the candidate it yields, and the registry of templates."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from schemas.facts import SceneFacts
from schemas.qa import TASK_TIERS, InputType, TaskType
from schemas.tiers import ScaleTier


@dataclass(frozen=True)
class QACandidate:
    """A generated question before validation. `question` is the stem: a multiple-choice answer's options are
    listed under it when the row is built; `answer` is the task's answer model as a plain dict (without
    task_type); `answer_text` is what goes inside <answer>…</answer>; `object_ids` and `query` are
    what `TaskTemplate.solve` needs to recompute the answer from any facts of the same scene."""

    template_id: str
    question: str
    rationale: str
    answer: dict[str, Any]
    answer_text: str
    video_frame_numbers: tuple[int, ...]
    object_ids: tuple[str, ...] = ()
    query: dict[str, str] = field(default_factory=dict)
    input_type: InputType = InputType.TEXT
    visual_prompts: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Drop:
    """A candidate a quality gate removed, with the gate's reason (counted per task in the run summary)."""

    reason: str
    detail: str = field(default="", compare=False)


class TaskTemplate(ABC):
    """A task type: writes `generate(facts, rng)`; phrasing, options, units, gates and validation are shared."""

    task_type: ClassVar[TaskType]

    @property
    def tiers(self) -> frozenset[ScaleTier]:
        return TASK_TIERS[self.task_type]

    @abstractmethod
    def generate(self, facts: SceneFacts, rng: np.random.Generator) -> Iterator[QACandidate | Drop]:
        """Yield candidates (and drops with reasons) for one scene."""

    @abstractmethod
    def solve(self, facts: SceneFacts, object_ids: tuple[str, ...], query: dict[str, str]) -> str | float:
        """The answer to a question this template asked: the correct option's text (MC) or the SI value
        (numeric). `generate` answers through it; ground-truth checks call it with exact facts."""


TASK_REGISTRY: dict[TaskType, type[TaskTemplate]] = {}


def register_task(cls: type[TaskTemplate]) -> type[TaskTemplate]:
    """Class decorator adding a template to the registry; refuses a second template for the same task."""
    task = cls.task_type
    if task in TASK_REGISTRY:
        raise ValueError(f"task {task.value} already has template {TASK_REGISTRY[task].__name__}")
    TASK_REGISTRY[task] = cls
    return cls


def template_for(task: TaskType | str) -> TaskTemplate:
    """Instantiate the registered template of a task; a miss lists the registered ones."""
    load_all_templates()
    try:
        return TASK_REGISTRY[TaskType(task)]()
    except (KeyError, ValueError):
        known = ", ".join(sorted(t.value for t in TASK_REGISTRY))
        raise KeyError(f"no template for task {task!r}; registered: {known}") from None


def load_all_templates() -> dict[TaskType, type[TaskTemplate]]:
    """Import every task module so each registers itself."""
    import importlib

    for task in TaskType:
        importlib.import_module(f"qa_templates.{task.value}")
    return TASK_REGISTRY
