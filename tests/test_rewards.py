"""GRPO rewards on hand-made completions: format, answer (MRA / exact match), scale, semantic (real MiniLM),
progressive gating."""

from __future__ import annotations

import math

import pytest

from schemas.qa import ObjectSizeAnswer, RelativeDistanceAnswer
from schemas.tiers import DisplayUnit
from training.metrics import score_response
from training.rewards import (
    GROUNDING_COLUMNS,
    answer_columns,
    answer_reward,
    answer_score,
    completion_text,
    format_reward,
    format_score,
    progressive_reward,
    progressive_score,
    scale_reward,
    scale_score,
    semantic_reward,
    semantic_scores,
    sentence_encoder,
    stated_scale_m,
)

FULL = ("<semantic>an indoor scene with a sofa and a box</semantic>\n<scale>the scene spans about 6 m</scale>\n"
        "The box is 2.6 m from the sofa.\n<answer>2.6 m</answer>")


def columns(n: int = 1, **overrides) -> dict:
    """Dataset columns of a numeric QA (2.6 m, scene 6 m across) repeated n times, as TRL passes them."""
    row = {"answer_kind": "numeric", "correct_letter": None, "options": None, "answer_unit": "m",
           "answer_shown_si": 2.6, "scale_m": 6.0, "semantic": "an indoor scene with a sofa and a box", **overrides}
    assert set(row) == set(GROUNDING_COLUMNS)
    return {key: [value] * n for key, value in row.items()}


# --- format -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    (FULL, 1.0),
    ("<answer>A</answer>", 1 / 3),
    ("<semantic>x</semantic><answer>A</answer>", 2 / 3),
    ("<scale>1 m</scale><semantic>x</semantic><answer>A</answer>", 2 / 3),  # all three, out of order
    ("<semantic></semantic><scale>1 m</scale><answer>A</answer>", 2 / 3),  # an empty tag earns nothing
    ("<semantic>x</semantic><scale>1 m</scale><answer>A</answer><answer>B</answer>", 2 / 3),  # a repeated tag
    ("<semantic>x<scale>1 m</scale>", 1 / 3),  # an unclosed tag
    ("the answer is A", 0.0),
])
def test_format_score_is_graded_per_tag_and_needs_order_for_full_credit(text, expected):
    assert format_score(text) == pytest.approx(expected)


def test_format_reward_takes_trl_conversational_completions():
    completions = [[{"role": "assistant", "content": FULL}], [{"role": "assistant", "content": "no tags"}]]
    assert format_reward(completions, **columns(2)) == [1.0, 0.0]


def test_completion_text_reads_strings_and_content_parts():
    assert completion_text("plain") == "plain"
    assert completion_text([{"role": "assistant", "content": [{"type": "text", "text": "a"},
                                                               {"type": "text", "text": "b"}]}]) == "ab"


# --- answer -------------------------------------------------------------------------------------------------------

def test_multiple_choice_answer_is_an_exact_letter_match():
    args = ("multiple_choice", "B", ["left", "right"], None, None)
    assert answer_score("<answer>B</answer>", *args) == 1.0
    assert answer_score("<answer>A</answer>", *args) == 0.0
    assert answer_score("<answer>right</answer>", *args) == 1.0  # the option named in full
    assert answer_score("<answer></answer>", *args) == 0.0


@pytest.mark.parametrize(("answer", "expected"), [
    ("2.6 m", 1.0),
    ("260 cm", 1.0),            # a stated unit is converted to SI
    ("2.86 m", 0.9),            # 10 % off passes θ = 0.50 … 0.90: 9 of 10
    ("1.95 m", 0.6),            # 25 % off passes θ = 0.50 … 0.75
    ("about two metres", 0.6),  # 23 % off
    ("3.9 m", 0.1),             # exactly 50 % off passes θ = 0.50 only
    ("5.2 m", 0.0),             # 100 % off
    ("no idea", 0.0),           # unparseable
])
def test_numeric_answer_scores_mra(answer, expected):
    assert answer_score(f"<answer>{answer}</answer>", "numeric", None, None, "m", 2.6) == pytest.approx(expected)


def test_answer_reward_has_trl_signature():
    completions = ["<answer>2.6 m</answer>", "<answer>13 m</answer>"]
    assert answer_reward(completions, **columns(2)) == [1.0, 0.0]


@pytest.mark.parametrize("response", ["1.05 m", "1 m", "0.95 m", "1.1 m", "105 cm", "1.5 m"])
def test_numeric_reward_scores_against_the_shown_value_as_evaluation_does(response):
    """A measured 0.99951 m is shown as 1 m: "1.05 m" is then exactly 5 % off (passes θ = 0.95), though 5.05 % off
    the unrounded value. The GRPO reward of the row the trainer builds equals the evaluation stage's score."""
    answer = ObjectSizeAnswer(value_si=0.99951, unit=DisplayUnit.M, display_value=1.0)
    row = {**answer_columns(answer), "scale_m": 6.0, "semantic": "a room"}
    completion = f"<answer>{response}</answer>"
    reward = answer_reward([completion], **{key: [value] for key, value in row.items()})
    assert reward == [score_response(completion, answer)[0]]
    if response == "1.05 m":
        assert reward == [1.0]


def test_multiple_choice_columns_carry_the_letter_and_options():
    answer = RelativeDistanceAnswer(options=["the cup", "the box"], correct_letter="B")
    row = answer_columns(answer)
    assert answer_score("<answer>B</answer>", *(row[c] for c in GROUNDING_COLUMNS[:5])) == 1.0
    assert row["answer_shown_si"] is None


def test_unknown_answer_kind_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown answer kind 'free_text'"):
        answer_score("<answer>x</answer>", "free_text", None, None, None, None)


# --- scale --------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("stated", "truth_m", "expected"), [
    ("about 6 m", 6.0, 1.0),
    ("600 cm", 6.0, 1.0),
    ("580 mm", 0.58, 1.0),
    ("12 m", 6.0, 1 - math.log(2) / 2),      # factor 2 off: 0.653
    ("3 m", 6.0, 1 - math.log(2) / 2),       # symmetric in log space
    ("0.6 km", 60.0, 0.0),                   # factor 10 off: 1 − ln 10 / 2 < 0 → 0
    ("0 m", 6.0, 0.0),                       # non-positive
    ("-3 m", 6.0, 0.0),
    ("36 m²", 6.0, 0.0),                     # an area is not a length
    ("huge", 6.0, 0.0),
])
def test_scale_reward_is_log_distance_of_the_stated_extent(stated, truth_m, expected):
    text = f"<scale>{stated}</scale>"
    assert scale_score(stated_scale_m(text), truth_m) == pytest.approx(expected)
    assert scale_reward([text], **columns(1, scale_m=truth_m)) == [pytest.approx(expected)]


def test_scale_without_the_tag_scores_zero():
    assert stated_scale_m("<answer>6 m</answer>") is None
    assert scale_score(None, 6.0) == 0.0


# --- semantic (real all-MiniLM-L6-v2) ------------------------------------------------------------------------------

def test_minilm_embeddings_match_sentence_transformers():
    """Mean pooling + L2 norm over plain transformers gives the reference similarity (ENVIRONMENT.md: 0.755)."""
    similarity = sentence_encoder().similarity(["A man is eating food."], ["A man is eating a piece of bread."])
    assert similarity[0] == pytest.approx(0.755, abs=0.005)
    assert sentence_encoder() is sentence_encoder()  # loaded once


def test_related_descriptions_score_higher_than_unrelated():
    reference = "an indoor scene with a sofa and a table"
    texts = ["<semantic>a living room with a couch and a table</semantic>",
             "<semantic>an aerial view of a harbour with container ships</semantic>",
             "<semantic>an indoor scene with a sofa and a table</semantic>",
             "no semantic tag"]
    related, unrelated, same, missing = semantic_scores(texts, [reference] * 4)
    assert same == pytest.approx(1.0, abs=1e-5)
    assert related > unrelated + 0.2
    assert missing == 0.0
    assert semantic_reward(texts[:2], semantic=[reference] * 2) == [related, unrelated]


# --- progressive --------------------------------------------------------------------------------------------------

def test_progressive_terms_are_gated_by_the_answer():
    assert progressive_score(0.0, 1.0, 1.0) == 0.0
    assert progressive_score(1.0, 0.0, 1.0) == 1.0
    assert progressive_score(1.0, 1.0, 1.0) == 3.0
    assert progressive_score(0.5, 0.5, 0.5) == pytest.approx(0.5 + 0.25 + 0.125)


def test_progressive_reward_on_completions():
    wrong = FULL.replace("<answer>2.6 m</answer>", "<answer>26 m</answer>")
    no_scale = FULL.replace("<scale>the scene spans about 6 m</scale>", "")
    rewards = progressive_reward([FULL, wrong, no_scale], **columns(3))
    r_sem = semantic_scores([FULL], ["an indoor scene with a sofa and a box"])[0]
    assert rewards[0] == pytest.approx(1 + 1 + r_sem)   # R_ans = R_scale = 1
    assert rewards[1] == 0.0                           # R_ans = 0 gates out a perfect scale and description
    assert rewards[2] == 1.0                           # R_scale = 0 gates out the description
