"""Run every template that applies to a scene's tier, validate each candidate, split rows from rejects."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field, replace

import numpy as np
from pydantic import ValidationError

from qa_templates.base import Drop, QACandidate, load_all_templates
from qa_templates.gates import scale_trusted
from qa_templates.options import options_block
from schemas.facts import SceneFacts
from schemas.paths import source_scene_id
from schemas.qa import OPTION_LETTERS, TASK_TIERS, QARow, RejectRow, TaskType


QUESTION_TOO_LONG = "question_too_long"
MAX_QUESTION_CHARS = 1000
"""A question with its options listed stays under this many characters (about 170 words)."""
PLANNING_TASKS = frozenset({TaskType.MANIPULATION_PLANNING, TaskType.OBSTACLE_LOCATION})
"""Tasks that plan or sweep boxes through the scene: 10–100× slower per row than the rest, so a run can
schedule them on their own (`tasks=`) and the rest is not held back."""


@dataclass
class SceneQA:
    """What one scene yields: validated rows, rejects with reasons, and gate drops counted per (task, reason)."""

    rows: list[QARow] = field(default_factory=list)
    rejects: list[RejectRow] = field(default_factory=list)
    drops: Counter = field(default_factory=Counter)


def task_rng(seed: int, scene_id: str, task: TaskType) -> np.random.Generator:
    """A generator per (run seed, scene, task): phrasing does not depend on which other tasks ran, nor on where the
    scene's data root lies (seeded by the source's scene id, without the root's tag)."""
    digest = hashlib.sha256(f"{seed}/{source_scene_id(scene_id)}/{task.value}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def qa_id(scene_id: str, task: TaskType, candidate: QACandidate) -> str:
    key = json.dumps([scene_id, task.value, candidate.template_id, candidate.input_type.value,
                      candidate.object_ids, candidate.question])
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def scene_candidates(facts: SceneFacts, run_id: str, seed: int = 0, tasks: Collection[TaskType] | None = None
                     ) -> Iterator[tuple[TaskType, dict | Drop]]:
    """Every template that applies to the scene's tier (of `tasks`, default all), run in task order: row fields
    (plain data, not yet validated) or the drops of its quality gates; a metric task is skipped whole where the
    scale is too uncertain. Each task draws from its own generator, so a subset yields exactly its share of the
    rows of a full run."""
    tier = facts.scene.scale
    for task, template_cls in sorted(load_all_templates().items(), key=lambda kv: kv[0].value):
        if tier not in TASK_TIERS[task] or (tasks is not None and task not in tasks):
            continue
        if (drop := scale_trusted(facts.scene, task)) is not None:
            yield task, drop
            continue
        letters = _LetterCycle(f"{source_scene_id(facts.scene.scene_id)}/{task.value}")
        by_frame = {c.frame_index: c.frame_path for c in facts.cameras}
        for item in template_cls().generate(facts, task_rng(seed, facts.scene.scene_id, task)):
            yield task, item if isinstance(item, Drop) else _within_length(
                _row_fields(facts, run_id, task, letters.place(item), by_frame))


def generate_scene_qa(facts: SceneFacts, run_id: str, seed: int = 0,
                      tasks: Collection[TaskType] | None = None) -> SceneQA:
    """All QA of one scene (of `tasks`, default all), each row validated: valid ones in `rows`, the others in
    `rejects` with the reason."""
    out, fields = SceneQA(), []
    for task, item in scene_candidates(facts, run_id, seed, tasks):
        if isinstance(item, Drop):
            out.drops[(task.value, item.reason)] += 1
        else:
            fields.append(item)
    out.rows, out.rejects = validate_rows(fields, run_id, facts.scene.scene_id)
    return out


def validate_rows(fields: list[dict], run_id: str, scene_id: str) -> tuple[list[QARow], list[RejectRow]]:
    """Row fields as QARows, in order, and those that fail as RejectRows with the reason. (Validating a scene's
    batch in one `TypeAdapter(list[QARow])` call measured no faster: the cost is in the checks, not the calls.)"""
    rows, rejects = [], []
    for item in fields:
        try:
            rows.append(QARow.model_validate(item))
        except ValidationError as err:
            rejects.append(RejectRow(run_id=run_id, scene_id=scene_id, task_type=item["task_type"],
                                     qa_id=item["qa_id"], reason=_reason(err),
                                     payload_json=json.dumps(item, default=str)))
    return rows, rejects


def _row_fields(facts: SceneFacts, run_id: str, task: TaskType, item: QACandidate,
                by_frame: dict[int, str] | None = None) -> dict:
    """A candidate's row fields; `by_frame` (frame number → keyframe path) is built once per task by the caller."""
    scene = facts.scene
    if by_frame is None:
        by_frame = {c.frame_index: c.frame_path for c in facts.cameras}
    return {
        "qa_id": qa_id(scene.scene_id, task, item),
        "run_id": run_id,
        "scene_id": scene.scene_id,
        "video_id": scene.video_id,
        "source": scene.source,
        "scale": scene.scale.value,
        "task_type": task.value,
        "input_type": item.input_type.value,
        "template_id": item.template_id,
        "question": (f"{item.question}\n{options_block(item.answer['options'])}" if "options" in item.answer
                     else item.question),
        "rationale": item.rationale,
        "response": f"{item.rationale}\n<answer>{item.answer_text}</answer>",
        "answer": {"task_type": task.value, **{k: getattr(v, "value", v) for k, v in item.answer.items()}},
        "video_frame_numbers": list(item.video_frame_numbers),
        "frame_paths": [by_frame.get(i, "") for i in item.video_frame_numbers],
        "object_ids": list(item.object_ids),
        "query": dict(item.query),
        "visual_prompts": list(item.visual_prompts),
        "provenance": scene.provenance.model_dump(),
    }


class _LetterCycle:
    """Places each multiple-choice answer of one scene's task (the templates list it first, `options.mc_answer`) at
    the next letter in turn (one turn per number of options, from a start drawn from the scene and task), the
    distractors kept in order, so letters balance within every scene, not only on average; yes/no keeps its
    order."""

    def __init__(self, key: str):
        self.start, self.turns = int(hashlib.sha1(key.encode()).hexdigest(), 16), Counter()

    def place(self, item: QACandidate) -> QACandidate:
        options = item.answer.get("options")
        if options is None or options == ["yes", "no"]:
            return item
        correct = options[OPTION_LETTERS.index(item.answer["correct_letter"])]
        others = [o for o in options if o != correct]
        slot = (self.start + self.turns[len(options)]) % len(options)
        self.turns[len(options)] += 1
        letter = OPTION_LETTERS[slot]
        return replace(item, answer={**item.answer, "options": others[:slot] + [correct] + others[slot:],
                                     "correct_letter": letter}, answer_text=letter)


def _within_length(fields: dict) -> dict | Drop:
    """The row's fields, or a drop when its question (with the options listed) runs past MAX_QUESTION_CHARS."""
    if len(fields["question"]) > MAX_QUESTION_CHARS:
        return Drop(QUESTION_TOO_LONG, f"{fields['template_id']}: {len(fields['question'])} characters")
    return fields


def _reason(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where}: {first['msg']}"
