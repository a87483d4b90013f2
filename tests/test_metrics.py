"""Metrics: MRA against the SPEC formula at every threshold boundary, answer extraction, aggregation, leaderboard."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from schemas.qa import NumericAnswer
from schemas.tiers import DisplayUnit
from training.metrics import (
    MRA_THRESHOLDS,
    SampleScore,
    answer_span,
    extract_choice,
    extract_quantity,
    leaderboard,
    leaderboard_markdown,
    mean_relative_accuracy,
    score_response,
    shown_value_si,
    summarize,
)

SPEC_THRESHOLDS = [Fraction(50 + 5 * i, 100) for i in range(10)]


def spec_mra(prediction: float, truth: float) -> float:
    """SPEC.md's formula in exact rational arithmetic: (1/10) Σ_θ 1[|ŷ − y| / |y| ≤ 1 − θ]."""
    error = abs(Fraction(prediction) - Fraction(truth)) / abs(Fraction(truth))
    return sum(error <= 1 - theta for theta in SPEC_THRESHOLDS) / 10


def test_thresholds_are_exactly_the_ten_of_the_spec():
    assert [Fraction(t).limit_denominator(100) for t in MRA_THRESHOLDS] == SPEC_THRESHOLDS
    assert MRA_THRESHOLDS[-1] == 0.95


def test_exact_hit_scores_one():
    assert mean_relative_accuracy(12.5, 12.5) == 1.0
    assert mean_relative_accuracy(-3.0, -3.0) == 1.0


@pytest.mark.parametrize("k", range(1, 11))
def test_each_threshold_boundary_and_just_above(k):
    """y = 100: an error of exactly 5k % passes the 11 − k thresholds with 1 − θ ≥ 0.05k; 0.01 more passes one fewer."""
    at_boundary, above = 100 + 5 * k, 100 + 5 * k + 0.01
    assert mean_relative_accuracy(at_boundary, 100) == pytest.approx((11 - k) / 10) == spec_mra(at_boundary, 100)
    assert mean_relative_accuracy(above, 100) == pytest.approx((10 - k) / 10) == spec_mra(above, 100)
    below = 100 - 5 * k  # the same error from below
    assert mean_relative_accuracy(below, 100) == pytest.approx((11 - k) / 10)


@pytest.mark.parametrize(("prediction", "truth", "expected"), [
    (0.315, 0.3, 1.0),      # 5 % in decimal terms, 5.000000000000004 % in binary floating point: still passes 0.95
    (0.33, 0.3, 0.9),       # 10 %
    (0.3151, 0.3, 0.9),     # just above 5 %
    (1.5, 1.0, 0.1),        # exactly 50 %: only θ = 0.50
    (1.5000001, 1.0, 0.0),
    (2.0, 1.0, 0.0),
    (0.0, 1.0, 0.0),        # a 100 % error
])
def test_floating_point_boundaries(prediction, truth, expected):
    assert mean_relative_accuracy(prediction, truth) == pytest.approx(expected)


def test_negative_ground_truth_is_measured_against_its_magnitude():
    assert mean_relative_accuracy(-110.0, -100.0) == pytest.approx(0.9) == spec_mra(-110, -100)
    assert mean_relative_accuracy(-150.0, -100.0) == pytest.approx(0.1)
    assert mean_relative_accuracy(100.0, -100.0) == 0.0  # the wrong sign is a 200 % error


@pytest.mark.parametrize("truth", [0.0, -0.0, math.nan, math.inf])
def test_zero_or_non_finite_ground_truth_raises(truth):
    with pytest.raises(ValueError, match="non-zero finite ground truth"):
        mean_relative_accuracy(1.0, truth)


@pytest.mark.parametrize("prediction", [None, math.nan, math.inf, -math.inf])
def test_unparseable_prediction_scores_zero(prediction):
    assert mean_relative_accuracy(prediction, 4.0) == 0.0


def test_answer_span_is_the_last_tag_or_the_whole_text():
    assert answer_span("x <answer> A </answer> then <answer>B</answer>\n") == ("B", True)
    assert answer_span("  just text  ") == ("just text", False)


@pytest.mark.parametrize(("response", "options", "letter"), [
    ("Because of the depth order.\n<answer>C</answer>", ["a", "b", "c"], "C"),
    ("<answer>(B) left of</answer>", ["right of", "left of"], "B"),
    ("The answer is D.", ["a", "b", "c", "d"], "D"),
    ("<answer>yes</answer>", ["yes", "no"], "A"),
    ("<answer>No.</answer>", ["yes", "no"], "B"),
    ("<answer>Left of</answer>", ["right of", "left of"], "B"),
    ("<answer>A</answer> on second thought <answer>E</answer>", ["a", "b", "c", "d", "e"], "E"),
    ("<answer>b</answer>", ["x", "y"], "B"),                    # lowercase forms, as the authors' scorer reads them
    ("(b)", ["x", "y"], "B"),
    ("b. y", ["x", "y"], "B"),
    ("<answer>b, probably</answer>", ["x", "y"], "B"),
    ("I pick option b", ["x", "y"], "B"),
    ("the answer is: (e)", ["v", "w", "x", "y", "z"], "E"),
])
def test_choice_extraction(response, options, letter):
    assert extract_choice(response, options).letter == letter


@pytest.mark.parametrize("response", ["<answer>a cup on the right</answer>", "<answer>probably the bigger one</answer>",
                                      "<answer>be careful</answer>"])
def test_choice_extraction_failure_says_why(response):
    """A lowercase letter counts only in an unambiguous form: never the article of "a cup"."""
    extraction = extract_choice(response, ["x", "y"])
    span = response.removeprefix("<answer>").removesuffix("</answer>")
    assert extraction.letter is None and extraction.error == f"no option letter A–E in answer {span!r}"


@pytest.mark.parametrize(("response", "unit", "value_si"), [
    ("<answer>14.7 m</answer>", DisplayUnit.M, 14.7),
    ("<answer>22.9</answer>", DisplayUnit.CM, 0.229),           # no unit: the question's display unit
    ("<answer>22.9 cm</answer>", DisplayUnit.MM, 0.229),         # a unit: converted to SI
    ("<answer>1,200 mm</answer>", DisplayUnit.M, 1.2),
    ("<answer>1.2k m</answer>", DisplayUnit.M, 1200.0),
    ("<answer>1.2km</answer>", DisplayUnit.M, 1200.0),
    ("<answer>1.5</answer>", DisplayUnit.KM, 1500.0),
    ("<answer>3 ft</answer>", DisplayUnit.M, 0.9144),
    ("<answer>twelve</answer>", DisplayUnit.COUNT, 12.0),
    ("<answer>twenty-one</answer>", DisplayUnit.COUNT, 21.0),
    ("<answer>three and a half metres</answer>", DisplayUnit.M, 3.5),
    ("<answer>two hundred and five</answer>", DisplayUnit.COUNT, 205.0),
    ("<answer>7 chairs</answer>", DisplayUnit.COUNT, 7.0),
    ("<answer>20 m²</answer>", DisplayUnit.M2, 20.0),
    ("<answer>20 m^2</answer>", DisplayUnit.M2, 20.0),
    ("<answer>20 square metres</answer>", DisplayUnit.M2, 20.0),
    ("<answer>2000 cm2</answer>", DisplayUnit.M2, 0.2),
    ("<answer>12 cubic meters</answer>", DisplayUnit.M3, 12.0),
    ("<answer>45°</answer>", DisplayUnit.DEG, 45.0),
    ("<answer>45 degrees</answer>", DisplayUnit.DEG, 45.0),
    ("<answer>0.5 rad</answer>", DisplayUnit.DEG, math.degrees(0.5)),
    ("<answer>−3 m</answer>", DisplayUnit.M, -3.0),
    ("<answer>.5 km</answer>", DisplayUnit.M, 500.0),
    ("In frame 2 it is near; from frame 2 to 5 it measures 3.5 m", DisplayUnit.M, 3.5),  # untagged: the last number
])
def test_quantity_extraction(response, unit, value_si):
    extraction = extract_quantity(response, unit)
    assert extraction.error is None
    assert extraction.value_si == pytest.approx(value_si)


@pytest.mark.parametrize(("response", "unit", "error"), [
    ("<answer>about a few</answer>", DisplayUnit.M, "no number in answer 'about a few'"),
    ("<answer>nan</answer>", DisplayUnit.M, "no number in answer 'nan'"),
    ("<answer>1e400 m</answer>", DisplayUnit.M, "number '1e400 m' is not finite"),
    ("<answer>20 m</answer>", DisplayUnit.M2, "unit in '20 m' is for length, the answer is area"),
    ("<answer>3 m</answer>", DisplayUnit.COUNT, "unit in '3 m' is for length, the answer is a plain number"),
])
def test_quantity_extraction_failures_say_why(response, unit, error):
    extraction = extract_quantity(response, unit)
    assert extraction.value_si is None and extraction.error == error


def test_score_response_uses_mra_in_si():
    answer = NumericAnswer(value_si=0.4, unit=DisplayUnit.CM, display_value=40.0)
    score, extraction = score_response("<answer>44 cm</answer>", answer)
    assert score == pytest.approx(0.9) and extraction.text == "0.44"
    assert score_response("<answer>none</answer>", answer)[0] == 0.0


@pytest.mark.parametrize("value_si", [2.5289, 2.5311])
def test_numeric_ground_truth_is_the_shown_value(value_si):
    """Shown 2.53 m (stored 2.5289 or 2.5311): ×1.3 of the shown value is exactly a 30 % error, inside θ = 0.70, and
    scores the same whatever the unrounded value; against the unrounded 2.5289 it would be 30.06 % and score 0.4."""
    answer = NumericAnswer(value_si=value_si, unit=DisplayUnit.M, display_value=2.53)
    assert shown_value_si(answer) == 2.53
    assert score_response("<answer>3.289</answer>", answer)[0] == pytest.approx(0.5) == spec_mra(Fraction("3.289"),
                                                                                                   Fraction("2.53"))
    assert score_response("<answer>328.9 cm</answer>", answer)[0] == pytest.approx(0.5)
    tiny = NumericAnswer(value_si=0.012345, unit=DisplayUnit.MM, display_value=12.3)
    assert shown_value_si(tiny) == pytest.approx(0.0123)
    assert score_response("<answer>12.3 mm</answer>", tiny)[0] == 1.0


def test_summary_is_mean_per_tier_with_both_overalls():
    scores = [SampleScore("a", "indoor", "object_size", 1.0), SampleScore("b", "indoor", "existence", 0.0),
              SampleScore("c", "indoor", "existence", 0.5), SampleScore("d", "drone", "existence", 1.0)]
    report = summarize(scores)
    assert report.per_tier == pytest.approx({"indoor": 0.5, "drone": 1.0})
    assert list(report.per_tier) == ["indoor", "drone"]  # tier order, small to large
    assert report.overall_tier_mean == pytest.approx(0.75)  # macro: (0.5 + 1.0) / 2
    assert report.overall_per_sample == pytest.approx(0.625)  # micro: 2.5 / 4
    assert report.per_task == pytest.approx({"existence": 0.5, "object_size": 1.0})
    assert report.per_tier_task[("indoor", "existence")] == pytest.approx(0.25)
    assert report.samples == 4
    assert summarize([]).overall_tier_mean is None and summarize([]).overall_per_sample is None
    with pytest.raises(ValueError, match="outside"):
        summarize([SampleScore("x", "indoor", "existence", 1.5)])


def test_leaderboard_table_and_markdown():
    reports = {"model-a": summarize([SampleScore("a", "tabletop", "existence", 1.0),
                                     SampleScore("b", "drone", "existence", 0.25)]),
               "model-b": summarize([SampleScore("a", "tabletop", "existence", 0.5)])}
    table = leaderboard(reports)
    assert table.column_names == ["model", "tabletop", "drone", "overall_per_sample", "overall_tier_mean", "samples"]
    assert table.to_pylist() == [
        {"model": "model-a", "tabletop": 1.0, "drone": 0.25, "overall_per_sample": 0.625, "overall_tier_mean": 0.625,
         "samples": 2},
        {"model": "model-b", "tabletop": 0.5, "drone": None, "overall_per_sample": 0.5, "overall_tier_mean": 0.5,
         "samples": 1},
    ]
    assert leaderboard_markdown(table) == (
        "| model | tabletop | drone | overall_per_sample | overall_tier_mean | samples |\n"
        "|---|---:|---:|---:|---:|---:|\n"
        "| model-a | 100.0 | 25.0 | 62.5 | 62.5 | 2 |\n"
        "| model-b | 50.0 | – | 50.0 | 50.0 | 1 |")
