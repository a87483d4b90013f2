"""Optional curation step: a VLM's own step-by-step rationale in place of the template one, kept only when the model,
shown the frames and the question (not the answer), reaches the stored answer by itself.

Agreement: the same option letter for multiple choice; MRA ≥ `min_numeric_agreement` for numeric answers (0.9, the
default, means a relative error of at most 10 %). The kept rationale is the model's text before its final
`<answer>`; the row's response becomes that rationale plus the stored answer, so answers never change. A row whose
model answer disagrees keeps its template rationale (or is dropped, `on_disagreement="drop"`); a row whose request
failed (unusable reply, missing frame) keeps its template rationale and is counted as an error.

On a committed table (flow `add-rationales`) the step runs shard by shard: each shard is recommitted in place, its
dropped rows first added to the shard's `rejects` (reason `rationale_disagrees`). Rerunning asks again for every row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from schemas.arrow import to_arrow
from schemas.evaluation import RationaleConfig
from schemas.qa import QARow, RejectRow
from storage.commits import commit_shard, shard_rows, stage_table
from storage.layout import OutputLayout
from storage.tables import table_spec
from training.evaluate import model_rows
from training.metrics import answer_span, score_response
from training.prompts import ChatPrompt, SampleError, qa_prompt

RATIONALE_INSTRUCTION = ("Think step by step about what the frames show, then give the final answer inside "
                         "<answer></answer>: the option letter for a multiple-choice question, a number and its "
                         "unit otherwise.")
_THINK_TAGS = re.compile(r"</?think>", re.IGNORECASE)
_LAST_ANSWER = re.compile(r"^(.*)<answer>.*?</answer>", re.DOTALL | re.IGNORECASE)
DISAGREEMENT_REASON = "rationale_disagrees"


class RationaleCounts(BaseModel):
    """Rows asked about, whose model answer agreed / disagreed, dropped (on_disagreement="drop"), and failed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requested: int = 0
    agreed: int = 0
    disagreed: int = 0
    dropped: int = 0
    errors: int = 0

    def __add__(self, other: RationaleCounts) -> RationaleCounts:
        return RationaleCounts(**{name: getattr(self, name) + getattr(other, name) for name in type(self).model_fields})


@dataclass(frozen=True)
class RationaleResult:
    rows: list[QARow]
    counts: RationaleCounts
    dropped: list[tuple[QARow, str]] = field(default_factory=list)
    """Rows removed (on_disagreement="drop") with the model's reply."""


def curate_rationales(rows: list[QARow], config: RationaleConfig, layout: OutputLayout,
                      complete: Callable[[ChatPrompt], str] | None = None) -> RationaleResult:
    """Rows with model rationales where the model agrees, and the counts; rows unchanged when no endpoint is set.

    `complete` answers a prompt; by default an EndpointClient on `config.endpoint` (EndpointUnavailable stops the
    step: nothing is half-applied because rows are returned, not written)."""
    if config.endpoint is None:
        return RationaleResult(list(rows), RationaleCounts())
    if complete is None:
        from training.chat import EndpointClient  # noqa: PLC0415

        complete = EndpointClient(config.endpoint).complete
    kept: list[QARow] = []
    dropped: list[tuple[QARow, str]] = []
    agreed = disagreed = errors = 0
    for row in rows:
        try:
            reply = complete(qa_prompt(row, layout, RATIONALE_INSTRUCTION, config.draw_visual_prompts))
        except SampleError:
            errors += 1
            kept.append(row)
            continue
        rationale = model_rationale(reply)
        if rationale and agrees(reply, row, config.min_numeric_agreement):
            agreed += 1
            kept.append(with_rationale(row, rationale))
            continue
        disagreed += 1
        if config.on_disagreement == "drop":
            dropped.append((row, reply))
        else:
            kept.append(row)
    return RationaleResult(kept, RationaleCounts(requested=len(rows), agreed=agreed, disagreed=disagreed,
                                                 dropped=len(dropped), errors=errors), dropped)


def table_shards(layout: OutputLayout, table: str) -> dict[str, list[QARow]]:
    """A QA table's rows grouped by the shard that committed them."""
    if table_spec(table).model is not QARow:
        raise ValueError(f"table {table!r} holds {table_spec(table).model.__name__} rows, not QARow")
    return {shard: _valid_rows(table, shard, data) for shard, data in shard_rows(layout, table).items()}


def rewrite_shard_rationales(layout: OutputLayout, table: str, shard: str, rows: list[QARow],
                             config: RationaleConfig, run_id: str) -> RationaleCounts:
    """Curate one shard's rationales and recommit it (replacing the shard's files). Dropped rows are first added to
    the shard's `rejects` (reason `rationale_disagrees`, payload: the row and the model's reply), so a crash between
    the two commits loses nothing."""
    result = curate_rationales(rows, config, layout)
    if result.dropped:
        earlier = [row for data in shard_rows(layout, "rejects", shard).values()
                   for row in _valid_rows("rejects", shard, data)]
        rejects = earlier + [
            RejectRow(run_id=run_id, scene_id=row.scene_id, task_type=row.task_type.value, qa_id=row.qa_id,
                      reason=DISAGREEMENT_REASON,
                      payload_json=json.dumps({"qa": row.model_dump(mode="json"), "model_reply": reply}))
            for row, reply in result.dropped]
        commit_shard(layout, "rejects", shard, stage_table(layout, "rejects", to_arrow(rejects, RejectRow), shard),
                     run_id)
    if result.counts.agreed or result.dropped:
        commit_shard(layout, table, shard, stage_table(layout, table, to_arrow(result.rows, QARow), shard), run_id)
    return result.counts


def _valid_rows(table: str, shard: str, data: pa.Table) -> list:
    """A shard's committed rows as models; an invalid row raises."""
    model = table_spec(table).model
    rows, invalid = model_rows(data, model)
    if invalid:
        record, error = invalid[0]
        raise ValueError(f"{table}, shard {shard}: a row is not a valid {model.__name__} ({error}): {record}"[:500])
    return rows


def agrees(reply: str, row: QARow, min_numeric_agreement: float) -> bool:
    """True when the reply's extracted answer is the stored one (MC letter; numeric MRA ≥ the threshold)."""
    score, extraction = score_response(reply, row.answer)
    if extraction.error is not None:
        return False
    return score == 1.0 if row.answer.kind == "multiple_choice" else score >= min_numeric_agreement


def model_rationale(reply: str) -> str:
    """The reasoning before the reply's last `<answer>` (think tags removed); empty when there is no tagged answer."""
    match = _LAST_ANSWER.match(reply)
    return _THINK_TAGS.sub("", match.group(1)).strip() if match else ""


def with_rationale(row: QARow, rationale: str) -> QARow:
    """`row` with a new rationale; the response keeps the stored answer text, the row is revalidated."""
    answer_text, _ = answer_span(row.response)
    return QARow.model_validate({**row.model_dump(), "rationale": rationale,
                                 "response": f"{rationale}\n<answer>{answer_text}</answer>"})
