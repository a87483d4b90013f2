"""Scoring: answer extraction from a model response, exact match for multiple choice, Mean Relative Accuracy (VSI-Bench)
for numeric answers, per-task / per-tier / overall aggregation and the leaderboard.

Extraction rules (SPEC.md "Metrics"; every accepted form, with what the authors' scorer and lmms-eval read from it, is
in the table of docs/SCORING.md, which tests/test_metrics.py checks against this module):
- the answer span is the content of the LAST `<answer>…</answer>` in the response; without one, the whole response;
- multiple choice: the first standalone capital letter A–E in the span ("B", "(B)", "Option B", "B."); else a
  lowercase letter a–e alone, at the start before ")", ".", ":" or ",", or after "option" / "choice" / "answer"
  ("b", "(b)", "b.", "option b": never the article in "a cup"); else an option whose text equals the whole span
  ("yes", "left of") gives its letter;
- numeric: a number (digits with optional thousands commas, decimals, exponent and a "k" multiplier, or English number
  words such as "twelve" / "three and a half") followed by an optional unit; the first number of a tagged span, the
  last one of an untagged response (a free-form reply ends with its conclusion). With a unit (mm, cm, m, km, inch,
  ft, yd, mi; squared / cubed for areas and volumes; °/deg/rad) the value is converted to SI; without one it is read
  in the question's display unit. A unit of the wrong kind (a length for an area) makes the prediction unparseable.
An unparseable prediction scores 0. A numeric prediction is scored against the value the sample SHOWS (its
`display_value`, e.g. 2.53 m), not the unrounded measurement behind it (2.5311 m): anyone holding the exported answer
can reproduce the score.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from schemas.qa import OPTION_LETTERS
from schemas.tiers import UNIT_PER_METRE, DisplayUnit, ScaleTier

MRA_THRESHOLDS = tuple(round(0.50 + 0.05 * i, 2) for i in range(10))
"""θ ∈ {0.50, 0.55, …, 0.95}, exactly (not a float linspace, whose 0.95 ≠ 0.95)."""


def mean_relative_accuracy(prediction: float | None, truth: float) -> float:
    """MRA = (1/10) Σ_θ 1[|ŷ − y| / |y| ≤ 1 − θ]; an unparseable (None) or non-finite prediction scores 0.

    The ground truth must be a non-zero finite number: relative error is undefined at y = 0, so y = 0 raises (no
    answer model of the `qa` table admits it). A negative y is measured against |y|: ŷ = −3 for y = −3 is exact,
    ŷ = +3 for y = −3 is a 200 % error.
    """
    if not math.isfinite(truth) or truth == 0:
        raise ValueError(f"MRA needs a non-zero finite ground truth, got {truth!r}")
    if prediction is None or not math.isfinite(prediction):
        return 0.0
    relative_error = abs(prediction - truth) / abs(truth)
    # compare in integer hundredths so that a boundary case such as an error of exactly 5% passes θ = 0.95
    error_hundredths = relative_error * 100
    return sum(error_hundredths <= round((1 - theta) * 100) + 1e-9 for theta in MRA_THRESHOLDS) / len(MRA_THRESHOLDS)


# --- extraction -------------------------------------------------------------------------------------------------

_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.DOTALL | re.IGNORECASE)
_LETTER = re.compile(r"(?<![A-Za-z])([A-E])(?![A-Za-z])")
_LOWER_LETTER = re.compile(  # "b", "(b)", "b.", "b) …", "b, …" at the start; "option b", "the answer is: (b)"
    r"^\(?([a-e])(?:\s*$|[).:,])|\b(?:option|choice|answer)\s*(?:is\s*)?:?\s*\(?([a-e])(?![a-z])", re.IGNORECASE)

_SMALL = {w: i for i, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen".split())}
_TENS = {w: 10 * (i + 2) for i, w in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split())}
_MULTIPLIERS = {"hundred": 100, "thousand": 1_000, "million": 1_000_000}
_NUMBER_WORD = "|".join(sorted([*_SMALL, *_TENS, *_MULTIPLIERS], key=len, reverse=True))

_DIGITS = r"[-+\u2212]?(?:\d{1,3}(?:,\d{3})+|\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?"
_WORDS = (rf"(?:{_NUMBER_WORD})(?:(?:[\s-]+|\s+and\s+)(?:{_NUMBER_WORD}))*(?P<half>\s+and\s+a\s+half)?")
_LENGTH_UNITS: dict[str, float] = {
    r"millimet(?:er|re)s?|mm": 1e-3, r"centimet(?:er|re)s?|cm": 1e-2, r"kilomet(?:er|re)s?|km": 1e3,
    r"met(?:er|re)s?|m": 1.0, r"inch(?:es)?": 0.0254, r"feet|foot|ft": 0.3048, r"yards?|yd": 0.9144,
    r"miles?|mi": 1609.344,
}
_LENGTH = "|".join(f"(?:{pattern})" for pattern in _LENGTH_UNITS)
_UNIT = (rf"(?P<prefix>sq(?:uare)?\.?\s*|cubic\s+)?(?P<length>{_LENGTH})(?P<power>\^?[23](?!\d)|[²³])?(?![a-z])"
         r"|(?P<angle>°|deg(?:rees?)?(?![a-z])|rad(?:ians?)?(?![a-z]))")
_QUANTITY = re.compile(
    rf"(?<![\w.])(?:(?P<digits>{_DIGITS})(?P<kilo>\s?k(?![a-z]))?|\b(?P<words>{_WORDS})\b)(?:\s*(?:{_UNIT}))?",
    re.IGNORECASE)

_DIMENSION = {DisplayUnit.MM: "length", DisplayUnit.CM: "length", DisplayUnit.M: "length", DisplayUnit.KM: "length",
              DisplayUnit.M2: "area", DisplayUnit.M3: "volume", DisplayUnit.DEG: "angle",
              DisplayUnit.COUNT: "a plain number", DisplayUnit.RATIO: "a plain number"}


@dataclass(frozen=True)
class Extraction:
    """What was read from a response: an option letter or an SI value, or why nothing could be read."""

    letter: str | None = None
    value_si: float | None = None
    error: str | None = None

    @property
    def text(self) -> str | None:
        """The extracted answer as stored in `eval_samples` (a letter, or the SI value)."""
        if self.letter is not None:
            return self.letter
        return None if self.value_si is None else f"{self.value_si:.6g}"


def answer_span(response: str) -> tuple[str, bool]:
    """(content of the last `<answer>…</answer>`, True) or (the whole response, False), stripped."""
    tagged = _ANSWER_TAG.findall(response)
    return (tagged[-1].strip(), True) if tagged else (response.strip(), False)


def extract_choice(response: str, options: Sequence[str] = ()) -> Extraction:
    """The option letter a response chose: the first standalone A–E in its answer span, else a lowercase letter in
    one of the unambiguous forms, else an option named whole."""
    span, _ = answer_span(response)
    if match := _LETTER.search(span):
        return Extraction(letter=match.group(1))
    if match := _LOWER_LETTER.search(span):
        return Extraction(letter=(match.group(1) or match.group(2)).upper())
    named = _normalize(span)
    for letter, option in zip(OPTION_LETTERS, options):
        if named and named == _normalize(option):
            return Extraction(letter=letter)
    return Extraction(error=f"no option letter A–E in answer {_clip(span)!r}")


def extract_quantity(response: str, unit: DisplayUnit) -> Extraction:
    """The SI value a response states for an answer shown in `unit` (see the module docstring for the rules)."""
    span, tagged = answer_span(response)
    matches = list(_QUANTITY.finditer(span))
    if not matches:
        return Extraction(error=f"no number in answer {_clip(span)!r}")
    match = matches[0] if tagged else matches[-1]
    value = _number(match)
    if not math.isfinite(value):
        return Extraction(error=f"number {match.group(0)!r} is not finite")
    dimension, factor = _unit_of(match)
    expected = _DIMENSION[unit]
    if dimension is None:
        to_si = 1 / UNIT_PER_METRE[unit] if expected == "length" else 1.0
        return Extraction(value_si=value * to_si)
    if dimension != expected:
        return Extraction(error=f"unit in {match.group(0).strip()!r} is for {dimension}, the answer is {expected}")
    return Extraction(value_si=value * factor)


def _number(match: re.Match) -> float:
    if match.group("digits") is not None:
        value = float(match.group("digits").replace(",", "").replace("\u2212", "-"))
        return value * 1000 if match.group("kilo") else value
    total, current = 0, 0
    words = match.group("words")
    if match.group("half"):
        words = words[:match.start("half") - match.start("words")]
    for word in re.split(r"[\s-]+", words.lower().strip()):
        if word in _SMALL or word in _TENS:
            current += _SMALL.get(word, _TENS.get(word, 0))
        elif word == "hundred":
            current = max(current, 1) * 100
        elif word in _MULTIPLIERS:
            total, current = total + max(current, 1) * _MULTIPLIERS[word], 0
    return total + current + (0.5 if match.group("half") else 0.0)


def _unit_of(match: re.Match) -> tuple[str | None, float]:
    """(dimension, factor to SI) of the unit after the number; (None, 1) when there is none."""
    if angle := match.group("angle"):
        return "angle", (180 / math.pi if angle.lower().startswith("rad") else 1.0)
    length = match.group("length")
    if length is None:
        return None, 1.0
    metres = next(f for pattern, f in _LENGTH_UNITS.items() if re.fullmatch(pattern, length, re.IGNORECASE))
    prefix = (match.group("prefix") or "").lower()
    power = (match.group("power") or "").lstrip("^").translate(str.maketrans("²³", "23"))
    exponent = 3 if prefix.startswith("cubic") or power == "3" else 2 if prefix or power == "2" else 1
    return {1: "length", 2: "area", 3: "volume"}[exponent], metres ** exponent


def _normalize(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()


def _clip(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# --- scoring ----------------------------------------------------------------------------------------------------

def shown_value_si(answer) -> float:
    """A numeric answer's ground truth as the sample shows it (`display_value` in its display unit), in SI."""
    per_si = UNIT_PER_METRE.get(answer.unit)
    return answer.display_value / per_si if per_si else answer.display_value


def score_response(response: str, answer) -> tuple[float, Extraction]:
    """Score one response against a QA answer (an MC or numeric answer model): exact letter match, or MRA in [0, 1]
    against the shown value."""
    if answer.kind == "multiple_choice":
        extraction = extract_choice(response, answer.options)
        return float(extraction.letter == answer.correct_letter), extraction
    extraction = extract_quantity(response, answer.unit)
    return mean_relative_accuracy(extraction.value_si, shown_value_si(answer)), extraction


@dataclass(frozen=True)
class SampleScore:
    qa_id: str
    scale: str
    task_type: str
    score: float


@dataclass(frozen=True)
class ScoreReport:
    """Scores in [0, 1]: per task (over all tiers), per tier × task, per tier (mean over the tier's samples) and two
    overalls: per sample (micro: the mean over all samples, as the authors' SpaceVista-Bench scorer reports) and the
    unweighted mean over tiers (macro: every tier counts the same, as the paper's leaderboard); None where there
    are no samples."""

    per_task: dict[str, float]
    per_tier_task: dict[tuple[str, str], float]
    per_tier: dict[str, float]
    overall_per_sample: float | None
    overall_tier_mean: float | None
    samples: int


def summarize(scores: Iterable[SampleScore]) -> ScoreReport:
    by_task: dict[str, list[float]] = defaultdict(list)
    by_tier_task: dict[tuple[str, str], list[float]] = defaultdict(list)
    by_tier: dict[str, list[float]] = defaultdict(list)
    every: list[float] = []
    for sample in scores:
        if not 0.0 <= sample.score <= 1.0:
            raise ValueError(f"sample {sample.qa_id}: score {sample.score!r} is outside [0, 1]")
        by_task[sample.task_type].append(sample.score)
        by_tier_task[(sample.scale, sample.task_type)].append(sample.score)
        by_tier[sample.scale].append(sample.score)
        every.append(sample.score)
    per_tier = {tier: _mean(values) for tier, values in sorted(by_tier.items(), key=lambda kv: _tier_order(kv[0]))}
    return ScoreReport(per_task={task: _mean(v) for task, v in sorted(by_task.items())},
                       per_tier_task={key: _mean(v) for key, v in sorted(by_tier_task.items())},
                       per_tier=per_tier, overall_per_sample=_mean(every) if every else None,
                       overall_tier_mean=_mean(list(per_tier.values())) if per_tier else None, samples=len(every))


def leaderboard(reports: Mapping[str, ScoreReport]) -> pa.Table:
    """One row per model: its score per tier (null where it has no samples of a tier), both overalls (per sample,
    mean over tiers), sample count."""
    tiers = _leaderboard_tiers(reports)
    rows = [{"model": model, **{tier: report.per_tier.get(tier) for tier in tiers},
             "overall_per_sample": report.overall_per_sample, "overall_tier_mean": report.overall_tier_mean,
             "samples": report.samples} for model, report in reports.items()]
    schema = pa.schema([("model", pa.string()), *[(tier, pa.float64()) for tier in tiers],
                        ("overall_per_sample", pa.float64()), ("overall_tier_mean", pa.float64()),
                        ("samples", pa.int64())])
    return pa.Table.from_pylist(rows, schema=schema)


def leaderboard_markdown(table: pa.Table) -> str:
    """The leaderboard as a Markdown table, scores in percent with one decimal ("–" where a tier has no samples)."""
    columns = table.column_names
    lines = ["| " + " | ".join(columns) + " |", "|" + "|".join(["---"] + ["---:"] * (len(columns) - 1)) + "|"]
    for row in table.to_pylist():
        cells = [str(row["model"])]
        for column in columns[1:]:
            value = row[column]
            cells.append("–" if value is None else str(value) if column == "samples" else f"{100 * value:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _leaderboard_tiers(reports: Mapping[str, ScoreReport]) -> list[str]:
    present = {tier for report in reports.values() for tier in report.per_tier}
    return sorted(present, key=_tier_order)


def _tier_order(tier: str) -> tuple[int, str]:
    order = [t.value for t in ScaleTier]
    return (order.index(tier), tier) if tier in order else (len(order), tier)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)
