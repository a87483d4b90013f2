"""`evaluate`: score a model on the QA of a catalog table (predictions file, OpenAI-compatible endpoint or local VLM)
into `eval_runs` / `eval_samples`, and publish the leaderboard."""

from __future__ import annotations

from pathlib import Path

from runtime.offline import quiet_environment

quiet_environment()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_markdown_artifact  # noqa: E402

from schemas.evaluation import EvalRunRow, EvaluateConfig  # noqa: E402
from schemas.qa import QARow  # noqa: E402
from storage.layout import OutputLayout  # noqa: E402
from training.evaluate import (  # noqa: E402
    EvalPlan,
    EvalResult,
    InputProblem,
    Prediction,
    catalog_leaderboard,
    collect_predictions,
    commit_result,
    finish_run,
    load_qa,
    plan_run,
)
from training.metrics import leaderboard_markdown  # noqa: E402


@task
def load_samples(config: EvaluateConfig) -> tuple[list[QARow], list[InputProblem]]:
    return load_qa(_layout(config), config.table, config.limit)


@task
def collect_responses(config: EvaluateConfig, plan: EvalPlan,
                      rows: list[QARow]) -> tuple[dict[str, Prediction], list[InputProblem]]:
    """Read the predictions file, or ask the endpoint / local model for every sample not cached by an earlier try."""
    return collect_predictions(config, _layout(config), plan, rows)


@task
def score_and_commit(config: EvaluateConfig, plan: EvalPlan, rows: list[QARow], predictions: dict[str, Prediction],
                     problems: list[InputProblem]) -> EvalResult:
    result = finish_run(config, plan, rows, predictions, problems)
    commit_result(_layout(config), result)
    return result


@task
def publish_leaderboard(config: EvaluateConfig) -> str:
    """The latest run of every model on this table, as a Prefect markdown artifact (scores in percent)."""
    markdown = leaderboard_markdown(catalog_leaderboard(_layout(config), config.table))
    create_markdown_artifact(key="leaderboard", markdown=markdown, description=f"leaderboard on {config.table}")
    return markdown


@flow(name="evaluate")
def evaluate(config: EvaluateConfig) -> EvalRunRow:
    """Load the QA, collect responses (resuming a cached run), score them, commit, publish the leaderboard."""
    plan = plan_run(config)
    rows, bad_rows = load_samples(config)
    predictions, bad_lines = collect_responses(config, plan, rows)
    result = score_and_commit(config, plan, rows, predictions, bad_rows + bad_lines)
    publish_leaderboard(config)
    get_run_logger().info("eval %s: %s on %s, %d samples, %d errors, overall per sample %s, mean over tiers %s",
                          plan.run_id, plan.model, config.table, result.run.n_samples, result.run.n_errors,
                          result.run.overall_per_sample, result.run.overall_tier_mean)
    return result.run


def _layout(config: EvaluateConfig) -> OutputLayout:
    return OutputLayout(Path(config.output_root))
