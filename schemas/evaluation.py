"""Evaluation: typed run configuration (predictions file, OpenAI-compatible endpoint or local VLM) and the rows of the
`eval_runs` and `eval_samples` tables."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class EndpointConfig(_Frozen):
    """An OpenAI-compatible chat-completions server (vLLM, SGLang, a hosted API): POST {base_url}/chat/completions."""

    base_url: str = Field(pattern=r"^https?://\S+$", description="e.g. http://127.0.0.1:8000/v1")
    model: str = Field(min_length=1, description="the `model` field of each request")
    api_key_env: str | None = Field(
        default=None, description="name of the environment variable holding a bearer token (the token is never stored)")
    timeout_s: float = Field(default=120.0, gt=0, description="per request")
    max_retries: int = Field(default=3, ge=0, le=10,
                             description="retries of a request on connection errors, timeouts, 429 and 5xx")
    backoff_s: float = Field(default=1.0, ge=0, description="first retry delay; doubles on each further retry")
    max_tokens: int = Field(default=512, ge=1)
    concurrency: int = Field(default=1, ge=1, le=64, description="requests in flight")


class LocalModelConfig(_Frozen):
    """A transformers vision-language model saved in a local directory (AutoProcessor + image-text-to-text model)."""

    model_dir: Path
    max_new_tokens: int = Field(default=256, ge=1)
    device: str | None = Field(default=None, description="torch device; None picks cuda when available, else cpu")


class EvaluateConfig(_Frozen):
    """Score a model on the QA of a catalog table; exactly one of `predictions`, `endpoint`, `local_model`."""

    output_root: Path = Field(description="the curated output root (tables, frames, catalog); results go here too")
    table: str = Field(default="qa", description="catalog table holding the QA rows (qa, benchmark, …)")
    predictions: Path | None = Field(
        default=None, description='JSONL file, one {"id": qa_id, "response": …} per line, or the SpaceVista authors\' '
                                  'results file (evaluate_api.py: {"id", "predicted_answer", …} per line)')
    endpoint: EndpointConfig | None = None
    local_model: LocalModelConfig | None = None
    model_name: str | None = Field(
        default=None, description="leaderboard name; defaults to the file stem, endpoint model or model directory name")
    limit: int | None = Field(default=None, ge=1, description="evaluate only the first n QA (by qa_id)")
    draw_visual_prompts: bool = Field(default=True,
                                      description="draw each question's points, boxes and masks on its frames")
    run_id: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9._-]+$",
        description="eval run id; None derives it from the configuration, so a rerun resumes and replaces the run")

    @model_validator(mode="after")
    def _one_source(self):
        given = [name for name in ("predictions", "endpoint", "local_model") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of predictions, endpoint, local_model (got {given or 'none'})")
        return self

    @property
    def source(self) -> Literal["predictions", "endpoint", "local_model"]:
        if self.predictions is not None:
            return "predictions"
        return "endpoint" if self.endpoint is not None else "local_model"


class RationaleConfig(_Frozen):
    """Optional curation step: replace template rationales by a VLM's own reasoning when its answer agrees.

    Off when `endpoint` is None. Agreement: the same option letter (MC), MRA ≥ `min_numeric_agreement` (numeric;
    0.9 means a relative error of at most 10 %)."""

    endpoint: EndpointConfig | None = None
    on_disagreement: Literal["keep_template", "drop"] = Field(
        default="keep_template", description="keep the row with its template rationale, or drop the row")
    min_numeric_agreement: float = Field(default=0.9, ge=0.5, le=1.0)
    draw_visual_prompts: bool = True


class AddRationalesConfig(_Frozen):
    """The `add-rationales` flow: curate the rationales of a committed QA table, shard by shard."""

    output_root: Path
    table: str = Field(default="qa", description="a table of QARow (qa, benchmark)")
    rationales: RationaleConfig


class EvalRunRow(_Frozen):
    """One evaluation run (table `eval_runs`); scores in [0, 1]."""

    eval_run_id: str
    model: str
    source: str = Field(description="predictions | endpoint | local_model")
    source_ref: str = Field(description="predictions file, endpoint URL or model directory")
    table: str
    n_samples: int = Field(description="QA rows scored (every one counts; an error scores 0)")
    n_errors: int = Field(description="samples scored 0 because no answer could be obtained or read")
    n_input_errors: int = Field(description="prediction lines that match no sample (malformed, unknown id, repeat)")
    overall_per_sample: float | None = Field(
        description="micro overall: mean over every scored sample (what the authors' SpaceVista-Bench scorer reports)")
    overall_tier_mean: float | None = Field(
        description="macro overall: unweighted mean of the per-tier scores (every tier counts the same)")
    per_tier: dict[str, float]
    per_task: dict[str, float]
    started_at: datetime
    finished_at: datetime
    config_json: str


class EvalSampleRow(_Frozen):
    """One scored QA of a run, or one unusable prediction line (table `eval_samples`).

    A QA row always has a score (0 when `error` says why no answer was obtained or read). A prediction line that
    matches no QA has no qa_id/task/tier when unreadable, a null score and the error naming its line."""

    eval_run_id: str
    qa_id: str | None
    task_type: str | None
    scale: str | None
    prediction: str | None = Field(description="the model's response text")
    extracted: str | None = Field(description="option letter or SI value read from the response")
    score: float | None
    error: str | None
