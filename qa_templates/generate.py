"""Run every template that applies to a scene's tier, validate each candidate, split rows from rejects."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import numpy as np
from pydantic import ValidationError

from qa_templates.base import Drop, QACandidate, load_all_templates
from qa_templates.gates import scale_trusted
from qa_templates.options import options_block
from schemas.facts import SceneFacts
from schemas.qa import OPTION_LETTERS, TASK_TIERS, QARow, RejectRow, TaskType


QUESTION_TOO_LONG = "question_too_long"
MAX_QUESTION_CHARS = 1000
"""A question with its options listed stays under this many characters (about 170 words)."""


@dataclass
class SceneQA:
    """What one scene yields: validated rows, rejects with reasons, and gate drops counted per (task, reason)."""

    rows: list[QARow] = field(default_factory=list)
    rejects: list[RejectRow] = field(default_factory=list)
    drops: Counter = field(default_factory=Counter)


def task_rng(seed: int, scene_id: str, task: TaskType) -> np.random.Generator:
    """A generator per (run seed, scene, task): phrasing does not depend on which other tasks ran."""
    digest = hashlib.sha256(f"{seed}/{scene_id}/{task.value}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def qa_id(scene_id: str, task: TaskType, candidate: QACandidate) -> str:
    key = json.dumps([scene_id, task.value, candidate.template_id, candidate.input_type.value,
                      candidate.object_ids, candidate.question])
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def scene_candidates(facts: SceneFacts, run_id: str, seed: int = 0) -> Iterator[tuple[TaskType, dict] | Drop]:
    """Every template that applies to the scene's tier, run in task order: row fields (plain data, not yet
    validated) or the drops of its quality gates; a metric task is skipped whole where the scale is too uncertain."""
    tier = facts.scene.scale
    for task, template_cls in sorted(load_all_templates().items(), key=lambda kv: kv[0].value):
        if tier not in TASK_TIERS[task]:
            continue
        if (drop := scale_trusted(facts.scene, task)) is not None:
            yield task, drop
            continue
        letters = _LetterCycle(f"{facts.scene.scene_id}/{task.value}")
        for item in template_cls().generate(facts, task_rng(seed, facts.scene.scene_id, task)):
            yield task, item if isinstance(item, Drop) else _within_length(
                _row_fields(facts, run_id, task, letters.place(item)))


def generate_scene_qa(facts: SceneFacts, run_id: str, seed: int = 0) -> SceneQA:
    """All QA of one scene, each row validated: valid ones in `rows`, the others in `rejects` with the reason."""
    out = SceneQA()
    for task, item in scene_candidates(facts, run_id, seed):
        if isinstance(item, Drop):
            out.drops[(task.value, item.reason)] += 1
            continue
        try:
            out.rows.append(QARow.model_validate(item))
        except ValidationError as err:
            out.rejects.append(RejectRow(
                run_id=run_id, scene_id=facts.scene.scene_id, task_type=task.value, qa_id=item["qa_id"],
                reason=_reason(err), payload_json=json.dumps(item, default=str)))
    return out


def _row_fields(facts: SceneFacts, run_id: str, task: TaskType, item: QACandidate) -> dict:
    scene = facts.scene
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
        "frame_indices": list(item.frame_indices),
        "frame_paths": [by_frame.get(i, "") for i in item.frame_indices],
        "object_ids": list(item.object_ids),
        "query": dict(item.query),
        "visual_prompts": list(item.visual_prompts),
        "provenance": scene.provenance.model_dump(),
    }


class _LetterCycle:
    """Moves each multiple-choice answer of one scene's task to the next letter in turn (one turn per number of
    options, from a start drawn from the scene and task), so letters balance within every scene, not only on
    average; yes/no keeps its order."""

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
