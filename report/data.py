"""What the report shows, read from the catalog: totals, counts, answer values, sizes, reasons, sample QA."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import duckdb

from qa_templates.units import length_unit
from schemas.arrow import from_record
from schemas.qa import QARow
from schemas.tiers import UNIT_PER_METRE, UNIT_SYMBOL, DisplayUnit, ScaleTier
from storage.catalog import snapshot
from storage.commits import read_manifest
from storage.layout import OutputLayout
from storage.tables import SHARD_TABLES


class ReportError(RuntimeError):
    """The report cannot be built from this output root; the message names the root and the fix."""


@dataclass(frozen=True)
class LastRun:
    run_id: str
    finished_at: str
    status: str
    wall_s: float


@dataclass(frozen=True)
class Totals:
    videos: int
    scenes: int
    qa: int
    rejects: int
    failures: int
    last_run: LastRun | None


@dataclass(frozen=True)
class NumericAnswers:
    """One task's numeric answers of one quantity in one tier, stated in that tier's unit (`unit` is its symbol)."""

    task_type: str
    quantity: str
    """'length', or the SI unit of another quantity (room size is asked as an area or a volume)."""
    tier: str
    unit: str
    values: list[float]


@dataclass(frozen=True)
class ChoiceBalance:
    """One multiple-choice task's answers in one tier: rows, the most frequent correct option and its share of the
    rows, and how many rows have their correct option at each letter."""

    task_type: str
    tier: str
    rows: int
    answers: int
    """Different correct options (2 where some scene offered only two, asked half and half)."""
    top_answer: str
    top_share: float
    letters: dict[str, int]


@dataclass(frozen=True)
class Failure:
    uri: str
    stage: str
    error_type: str
    message: str


@dataclass(frozen=True)
class ReportData:
    root: str
    totals: Totals
    qa_counts: dict[tuple[str, str], int]
    """(tier, task_type) → QA rows; combinations without rows are absent."""
    numeric_answers: list[NumericAnswers]
    choice_balance: list[ChoiceBalance]
    object_sizes_m: dict[str, list[float]]
    """tier → each object's largest dimension in metres."""
    scene_extents_m: dict[str, list[float]]
    reject_reasons: Counter
    """(task_type, reason) → rejected candidates."""
    gate_drops: Counter
    """(task_type, reason) → candidates dropped by a quality gate, over the shards committed clean."""
    failure_stages: Counter
    """(stage, error_type) → failed inputs."""
    failures: list[Failure]
    samples: list[QARow]


def load_report_data(layout: OutputLayout, samples_per_tier: int = 2, failures_listed: int = 50) -> ReportData:
    """Everything the page shows, from one snapshot of the tables; an output root without committed tables is a
    ReportError."""
    require_tables(layout)
    with snapshot(layout) as con:
        return ReportData(
            root=str(layout.root), totals=_totals(con),
            qa_counts={(r["scale"], r["task_type"]): r["n"] for r in _rows(con, (
                "SELECT scale, task_type, count(*) AS n FROM qa GROUP BY ALL"))},
            numeric_answers=_numeric_answers(con),
            choice_balance=_choice_balance(con),
            object_sizes_m=_by_tier(con, "SELECT scale, list_max(size_lwh) AS v FROM objects"),
            scene_extents_m=_by_tier(con, "SELECT scale, extent_m AS v FROM scenes"),
            reject_reasons=Counter({(r["task_type"], r["reason"]): r["n"] for r in _rows(con, (
                "SELECT task_type, reason, count(*) AS n FROM rejects GROUP BY ALL"))}),
            gate_drops=Counter({(r["task_type"], r["reason"]): r["n"] for r in _rows(con, (
                "SELECT d.task_type, d.reason, sum(d.n) AS n FROM (SELECT unnest(drops) AS d FROM shards) "
                "GROUP BY ALL"))}),
            failure_stages=Counter({(r["stage"], r["error_type"]): r["n"] for r in _rows(con, (
                "SELECT stage, error_type, count(*) AS n FROM failures GROUP BY ALL"))}),
            failures=[Failure(**r) for r in _rows(con, "SELECT uri, stage, error_type, message FROM failures "
                                                       "ORDER BY stage, uri LIMIT ?", [failures_listed])],
            samples=_samples(con, samples_per_tier))


def require_tables(layout: OutputLayout) -> None:
    """A ReportError naming the root and the fix unless some curate table has committed files."""
    if not any(read_manifest(layout, t)["files"] for t in SHARD_TABLES):
        raise ReportError(f"{layout.root}: no curated tables (nothing committed to {', '.join(SHARD_TABLES)} under "
                          f"{layout.tables}); run `spacevista curate --output {layout.root}` first")


def tier_value(tier: str, unit: str, value_si: float) -> tuple[float, str]:
    """A numeric answer in the tier's unit: lengths in the tier's length unit, other quantities in SI."""
    display = DisplayUnit(unit)
    if display in UNIT_PER_METRE:
        display = length_unit(ScaleTier(tier))
        return value_si * UNIT_PER_METRE[display], UNIT_SYMBOL[display]
    return value_si, UNIT_SYMBOL[display] or display.value


def _rows(con: duckdb.DuckDBPyConnection, sql: str, parameters: list | None = None) -> list[dict]:
    return con.sql(sql, params=parameters or None).to_arrow_table().to_pylist()


def _totals(con: duckdb.DuckDBPyConnection) -> Totals:
    (counts,) = _rows(con, "SELECT " + ", ".join(f"(SELECT count(*) FROM {t}) AS {t}" for t in (
        "videos", "scenes", "qa", "rejects", "failures")))
    last = _rows(con, "SELECT run_id, strftime(finished_at, '%Y-%m-%d %H:%M UTC') AS finished_at, status, wall_s "
                         "FROM runs ORDER BY finished_at DESC LIMIT 1")
    return Totals(**counts, last_run=LastRun(**last[0]) if last else None)


def _numeric_answers(con: duckdb.DuckDBPyConnection) -> list[NumericAnswers]:
    groups: dict[tuple[str, str, str, str], list[float]] = {}
    for r in _rows(con, "SELECT scale, task_type, answer.unit AS unit, answer.value_si AS value_si FROM qa "
                           "WHERE answer.kind = 'numeric' ORDER BY task_type, scale, value_si"):
        value, unit = tier_value(r["scale"], r["unit"], r["value_si"])
        quantity = "length" if DisplayUnit(r["unit"]) in UNIT_PER_METRE else r["unit"]
        groups.setdefault((r["task_type"], quantity, r["scale"], unit), []).append(value)
    return [NumericAnswers(*key, values) for key, values in groups.items()]


def _choice_balance(con: duckdb.DuckDBPyConnection) -> list[ChoiceBalance]:
    answers: dict[tuple[str, str], Counter] = {}
    letters: dict[tuple[str, str], Counter] = {}
    per_scene: dict[tuple[str, str], dict[str, set]] = {}
    for r in _rows(con, "SELECT task_type, scale, scene_id, answer.correct_letter AS letter, answer.options["
                        "list_position(['A', 'B', 'C', 'D', 'E'], answer.correct_letter)] AS correct FROM qa "
                        "WHERE answer.kind = 'multiple_choice'"):
        key = (r["task_type"], r["scale"])
        answers.setdefault(key, Counter())[r["correct"]] += 1
        letters.setdefault(key, Counter())[r["letter"]] += 1
        per_scene.setdefault(key, {}).setdefault(r["scene_id"], set()).add(r["correct"])
    order = [t.value for t in ScaleTier]
    out = []
    for (task, tier), counts in sorted(answers.items(), key=lambda kv: (kv[0][0], order.index(kv[0][1]))):
        (top, n_top), rows = counts.most_common(1)[0], sum(counts.values())
        two_answer_scene = any(len(seen) == 2 for seen in per_scene[(task, tier)].values())
        out.append(ChoiceBalance(task, tier, rows, 2 if two_answer_scene else len(counts), top, n_top / rows,
                                 dict(sorted(letters[(task, tier)].items()))))
    return out


def _by_tier(con: duckdb.DuckDBPyConnection, sql: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for r in _rows(con, sql + " ORDER BY v"):
        out.setdefault(r["scale"], []).append(r["v"])
    return out


def _samples(con: duckdb.DuckDBPyConnection, per_tier: int) -> list[QARow]:
    """Up to `per_tier` QA of each tier, of different tasks, those with a visual prompt first (stable choice)."""
    records = _rows(con, (
        "WITH ranked AS (SELECT *, row_number() OVER (PARTITION BY scale, task_type "
        "ORDER BY len(visual_prompts) = 0, qa_id) AS task_rank FROM qa) "
        "SELECT * EXCLUDE (task_rank) FROM ranked QUALIFY row_number() OVER (PARTITION BY scale "
        "ORDER BY task_rank, len(visual_prompts) = 0, md5(scale || task_type)) <= ? ORDER BY scale, task_type"),
        [per_tier])
    order = [t.value for t in ScaleTier]
    rows = [from_record(r, QARow) for r in records]
    return sorted(rows, key=lambda row: (order.index(row.scale.value), row.task_type.value))
