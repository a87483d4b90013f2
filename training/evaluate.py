"""Evaluation engine: the QA rows of a catalog table → model responses (a predictions file, an OpenAI-compatible
endpoint or a local VLM) → scores → the `eval_runs` and `eval_samples` tables.

Error policy: every QA row of the table is a sample and counts in the scores; a sample whose response could not be
obtained or read (no prediction, malformed prediction, endpoint garbage, no number in the answer) scores 0 with the
reason in `error`. Prediction lines that match no sample (not JSON, no id, unknown or repeated id) and table rows that
fail validation are kept in `eval_samples` with a null score and the reason, outside the scores.

Resume: generated responses are appended, one JSON line each, to `<output>/evals/<eval_run_id>/responses.jsonl` as
they arrive. The run id is derived from the configuration, so running the same configuration again skips every
cached sample and asks only for the rest (errors are not cached: they are asked again).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from pydantic import BaseModel, ValidationError

from schemas.arrow import from_record, to_arrow
from schemas.evaluation import EvalRunRow, EvalSampleRow, EvaluateConfig
from schemas.qa import QARow
from storage.catalog import query, refresh_catalog
from storage.commits import commit_shard, stage_table
from storage.filesystem import exists
from storage.layout import OutputLayout
from storage.tables import table_spec
from training.metrics import SampleScore, ScoreReport, leaderboard, score_response, summarize
from training.prompts import ChatPrompt, SampleError, qa_prompt

QA_FIELDS = frozenset({"qa_id", "scale", "task_type", "question", "answer", "frame_paths", "visual_prompts"})


@dataclass(frozen=True)
class Prediction:
    """A sample's response, or why there is none; `ref` names where it came from (file line, cache, endpoint)."""

    response: str | None
    error: str | None = None
    ref: str = ""


@dataclass(frozen=True)
class InputProblem:
    """A prediction line or table row that is not a usable sample."""

    qa_id: str | None
    error: str
    table_row: bool = False


@dataclass(frozen=True)
class EvalPlan:
    run_id: str
    model: str
    source_ref: str
    started_at: datetime


@dataclass(frozen=True)
class EvalResult:
    run: EvalRunRow
    samples: list[EvalSampleRow]
    report: ScoreReport


def eval_run_dir(layout: OutputLayout, run_id: str) -> Path:
    return layout.local_root / "evals" / run_id


def plan_run(config: EvaluateConfig) -> EvalPlan:
    """Model name, source and a run id derived from everything that decides the responses (same config, same id)."""
    if config.predictions is not None:
        path = Path(config.predictions).absolute()
        if not path.is_file():
            raise FileNotFoundError(f"predictions file {path} does not exist")
        source_ref, model, identity = str(path), path.stem, hashlib.sha256(path.read_bytes()).hexdigest()
    elif config.endpoint is not None:
        source_ref, model = config.endpoint.base_url, config.endpoint.model
        identity = config.endpoint.model_dump_json(include={"base_url", "model", "max_tokens"})
    else:
        assert config.local_model is not None
        directory = Path(config.local_model.model_dir).absolute()
        source_ref, model = str(directory), directory.name
        identity = json.dumps([source_ref, config.local_model.max_new_tokens])
    model = config.model_name or model
    digest = hashlib.sha256(json.dumps([config.source, identity, model, config.table, config.limit,
                                        config.draw_visual_prompts]).encode()).hexdigest()[:12]
    run_id = config.run_id or f"eval-{re.sub(r'[^A-Za-z0-9._-]+', '-', model)[:40]}-{digest}"
    return EvalPlan(run_id, model, source_ref, datetime.now(UTC))


def load_qa(layout: OutputLayout, table: str, limit: int | None = None) -> tuple[list[QARow], list[InputProblem]]:
    """The table's QA rows ordered by qa_id (the first `limit`); rows that fail validation come back as problems."""
    spec = table_spec(table)
    missing = QA_FIELDS - set(spec.model.model_fields)
    if missing:
        raise ValueError(f"table {table!r} holds {spec.model.__name__} rows, not QA (no {', '.join(sorted(missing))})")
    if not exists(layout.fs, layout.tables):
        raise FileNotFoundError(f"no tables under {layout.root}; run `spacevista curate` first")
    data = query(layout, f'SELECT * FROM "{table}" ORDER BY qa_id' + (" LIMIT ?" if limit else ""),
                 [limit] if limit else None)
    if data.num_rows == 0:
        raise ValueError(f"table {table!r} under {layout.root} has no rows to evaluate")
    rows, invalid = model_rows(data, spec.model)
    return rows, [InputProblem(record.get("qa_id"), f"{table} row is not a valid {spec.model.__name__}: {error}",
                               table_row=True) for record, error in invalid]


def model_rows(data: pa.Table, model: type[BaseModel]) -> tuple[list, list[tuple[dict, str]]]:
    """Arrow rows back into `model` instances; the rows that fail validation come back as (record, first error)."""
    rows, invalid = [], []
    for record in data.to_pylist():
        try:
            rows.append(from_record(record, model))
        except ValidationError as err:
            invalid.append((record, _first_error(err)))
    return rows, invalid


RESPONSE_FIELDS = ("response", "predicted_answer")
"""Where a prediction line holds the model's answer: ours, or the SpaceVista authors' results file (evaluate_api.py)."""


def read_predictions(path: Path) -> tuple[dict[str, Prediction], list[InputProblem]]:
    """{qa_id: Prediction} from a JSONL file of {"id", "response"} lines or the authors' {"id", "predicted_answer",
    …} result lines (other fields, such as their `ground_truth`, are ignored: the table's answer is scored against);
    unusable lines come back as problems.

    A line with an id but no usable response (missing, both fields, NaN, not text, the authors' "ERROR…" marker of a
    failed request) is that sample's error; a repeated id keeps its first line."""
    predictions: dict[str, Prediction] = {}
    problems: list[InputProblem] = []
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            ref = f"{path.name} line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                problems.append(InputProblem(None, f"{ref}: not JSON ({err.msg} at column {err.colno})"))
                continue
            qa_id = record.get("id") if isinstance(record, dict) else None
            if not isinstance(qa_id, str) or not qa_id:
                problems.append(InputProblem(None, f"{ref}: no string \"id\" (got {_clip(line.strip())!r})"))
                continue
            if qa_id in predictions:
                problems.append(InputProblem(qa_id, f"{ref}: repeats id {qa_id} ({predictions[qa_id].ref} counts)"))
                continue
            predictions[qa_id] = _prediction(record, ref)
    return predictions, problems


def _prediction(record: dict, ref: str) -> Prediction:
    given = [name for name in RESPONSE_FIELDS if name in record]
    if len(given) != 1:
        fields = " and ".join(f'"{name}"' for name in (given or RESPONSE_FIELDS))
        return Prediction(None, f"{ref}: {'has both' if given else 'has neither'} {fields}", ref)
    response = record[given[0]]
    if given[0] == "predicted_answer" and isinstance(response, str) and response.startswith("ERROR"):
        return Prediction(None, f"{ref}: the authors' evaluator recorded a failed request ({_clip(response)!r})", ref)
    if isinstance(response, str):
        return Prediction(response, ref=ref)
    if isinstance(response, (int, float)) and not isinstance(response, bool):
        if math.isfinite(response):
            return Prediction(str(response), ref=ref)
        return Prediction(None, f"{ref}: {given[0]} is the number {response}, not an answer", ref)
    return Prediction(None, f"{ref}: \"{given[0]}\" is {type(response).__name__}, not text", ref)


class ResponseCache:
    """Append-only JSONL of {"id", "response"} per completed sample; a torn last line (a crash mid-write) is ignored."""

    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()

    def load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        cached: dict[str, str] = {}
        for line in self.path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(record, dict) and isinstance(record.get("id"), str) and isinstance(record.get("response"),
                                                                                              str):
                cached.setdefault(record["id"], record["response"])
        return cached

    def append(self, qa_id: str, response: str) -> None:
        line = json.dumps({"id": qa_id, "response": response}, ensure_ascii=False) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a", encoding="utf-8") as handle:
                handle.write(line)


def generate_predictions(rows: list[QARow], layout: OutputLayout, complete: Callable[[ChatPrompt], str],
                         cache: ResponseCache, concurrency: int = 1,
                         draw_visual_prompts: bool = True) -> dict[str, Prediction]:
    """Ask `complete` for every row not in the cache (`concurrency` at a time), caching each response as it arrives.

    A SampleError becomes that sample's error; any other exception (EndpointUnavailable) stops the run after the
    requests in flight finish, with their responses cached."""
    cached = cache.load()
    predictions = {row.qa_id: Prediction(cached[row.qa_id], ref=cache.path.name) for row in rows
                   if row.qa_id in cached}

    def answer(row: QARow) -> Prediction:
        try:
            response = complete(qa_prompt(row, layout, draw_visual_prompts=draw_visual_prompts))
        except SampleError as err:
            return Prediction(None, str(err))
        cache.append(row.qa_id, response)
        return Prediction(response, ref="generated")

    todo = [row for row in rows if row.qa_id not in predictions]
    if concurrency == 1:
        for row in todo:
            predictions[row.qa_id] = answer(row)
        return predictions
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = {pool.submit(answer, row): row.qa_id for row in todo}
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        for future in done:
            if future.exception() is not None:
                pool.shutdown(wait=True, cancel_futures=True)
                raise future.exception()
        for future, qa_id in futures.items():
            predictions[qa_id] = future.result()
    return predictions


def score_samples(run_id: str, rows: Iterable[QARow], predictions: dict[str, Prediction]) -> list[EvalSampleRow]:
    """One row per QA: its response, extracted answer and score (0 with the reason when there is no usable answer)."""
    samples = []
    for row in rows:
        prediction = predictions.get(row.qa_id) or Prediction(None, "no prediction for this QA")
        score, extracted, error = 0.0, None, prediction.error
        if prediction.response is not None:
            try:
                score, extraction = score_response(prediction.response, row.answer)
                extracted, error = extraction.text, extraction.error
            except ValueError as err:
                error = f"ground truth cannot be scored: {err}"
        samples.append(EvalSampleRow(eval_run_id=run_id, qa_id=row.qa_id, task_type=row.task_type.value,
                                     scale=row.scale.value, prediction=prediction.response, extracted=extracted,
                                     score=score, error=error))
    return samples


def problem_samples(run_id: str, problems: Iterable[InputProblem]) -> list[EvalSampleRow]:
    return [EvalSampleRow(eval_run_id=run_id, qa_id=p.qa_id, task_type=None, scale=None, prediction=None,
                          extracted=None, score=None, error=p.error) for p in problems]


def unmatched_predictions(predictions: dict[str, Prediction], known: set[str | None],
                          table: str) -> list[InputProblem]:
    return [InputProblem(qa_id, f"{p.ref}: id {qa_id} is not among the evaluated QA of table {table!r}")
            for qa_id, p in predictions.items() if qa_id not in known]


def finish_run(config: EvaluateConfig, plan: EvalPlan, rows: list[QARow], predictions: dict[str, Prediction],
               problems: list[InputProblem]) -> EvalResult:
    """Score the samples and build the run row (nothing written yet)."""
    known = {row.qa_id for row in rows} | {p.qa_id for p in problems if p.table_row}
    problems = problems + unmatched_predictions(predictions, known, config.table)
    scored = score_samples(plan.run_id, rows, predictions)
    report = summarize(SampleScore(s.qa_id, s.scale, s.task_type, s.score) for s in scored)  # type: ignore[arg-type]
    run = EvalRunRow(eval_run_id=plan.run_id, model=plan.model, source=config.source, source_ref=plan.source_ref,
                     table=config.table, n_samples=len(scored), n_errors=sum(s.error is not None for s in scored),
                     n_input_errors=len(problems), overall_per_sample=report.overall_per_sample,
                     overall_tier_mean=report.overall_tier_mean, per_tier=report.per_tier,
                     per_task=report.per_task, started_at=plan.started_at, finished_at=datetime.now(UTC),
                     config_json=config.model_dump_json())
    return EvalResult(run, scored + problem_samples(plan.run_id, problems), report)


def commit_result(layout: OutputLayout, result: EvalResult) -> None:
    """Publish the run's samples, then its run row (shard = eval run id: a rerun replaces, never duplicates)."""
    run_id = result.run.eval_run_id
    for table, rows, model in (("eval_samples", result.samples, EvalSampleRow),
                               ("eval_runs", [result.run], EvalRunRow)):
        commit_shard(layout, table, run_id, stage_table(layout, table, to_arrow(rows, model), run_id), run_id)
    refresh_catalog(layout)


def evaluate_qa(config: EvaluateConfig) -> EvalResult:
    """The whole evaluation without an orchestrator: load, predict (or read predictions), score, commit."""
    layout = OutputLayout(Path(config.output_root))
    plan = plan_run(config)
    rows, problems = load_qa(layout, config.table, config.limit)
    predictions, more = collect_predictions(config, layout, plan, rows)
    result = finish_run(config, plan, rows, predictions, problems + more)
    commit_result(layout, result)
    return result


def collect_predictions(config: EvaluateConfig, layout: OutputLayout, plan: EvalPlan,
                        rows: list[QARow]) -> tuple[dict[str, Prediction], list[InputProblem]]:
    """Responses from the configured source, and the prediction lines that could not be read."""
    if config.predictions is not None:
        return read_predictions(Path(config.predictions))
    from training.chat import EndpointClient, LocalVisionModel  # noqa: PLC0415 (the local model imports torch)

    cache = ResponseCache(eval_run_dir(layout, plan.run_id) / "responses.jsonl")
    if config.endpoint is not None:
        client = EndpointClient(config.endpoint)
        return generate_predictions(rows, layout, client.complete, cache, config.endpoint.concurrency,
                                    config.draw_visual_prompts), []
    assert config.local_model is not None
    model = LocalVisionModel(config.local_model)
    return generate_predictions(rows, layout, model.complete, cache, 1, config.draw_visual_prompts), []


def catalog_leaderboard(layout: OutputLayout, table: str = "qa") -> pa.Table:
    """The leaderboard of the latest run of each model on `table`, from `eval_runs` (scores in [0, 1])."""
    runs = query(layout, "SELECT * FROM eval_runs WHERE \"table\" = ? ORDER BY model, finished_at", [table]).to_pylist()
    latest = {run["model"]: run for run in runs}
    return leaderboard({model: ScoreReport(per_task=dict(run["per_task"]), per_tier_task={},
                                           per_tier=dict(run["per_tier"]),
                                           overall_per_sample=run["overall_per_sample"],
                                           overall_tier_mean=run["overall_tier_mean"], samples=run["n_samples"])
                        for model, run in latest.items()})


def format_run(run: EvalRunRow) -> str:
    """End-of-run report: counts, both overalls (labelled), per-tier and per-task scores (percent), where to find the
    errors."""
    lines = [f"eval {run.eval_run_id}: model {run.model} on {run.table} ({run.source}: {run.source_ref})",
             f"samples {run.n_samples}  errors {run.n_errors}  unusable inputs {run.n_input_errors}",
             f"overall per sample (micro, as the authors' scorer) {_percent(run.overall_per_sample)}  "
             f"overall mean over tiers (macro) {_percent(run.overall_tier_mean)}", "",
             "tier".ljust(24) + "score".rjust(8)]
    lines += [tier.ljust(24) + f"{100 * score:8.1f}" for tier, score in run.per_tier.items()]
    lines += ["", "task".ljust(24) + "score".rjust(8)]
    lines += [task.ljust(24) + f"{100 * score:8.1f}" for task, score in run.per_task.items()]
    if run.n_errors or run.n_input_errors:
        lines += ["", f"errors: SELECT qa_id, error FROM eval_samples WHERE eval_run_id = '{run.eval_run_id}' "
                      f"AND error IS NOT NULL"]
    return "\n".join(lines)


def _percent(score: float | None) -> str:
    return "–" if score is None else f"{100 * score:.1f}"


def _first_error(err: ValidationError) -> str:
    first = err.errors()[0]
    where = ".".join(str(p) for p in first["loc"])
    return f"{where + ': ' if where else ''}{first['msg']} ({err.error_count()} errors)"


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"
