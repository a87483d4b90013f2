"""Test oracles: the SpaceVista authors' benchmark scoring and lmms-eval's VSI-Bench scoring, written here from their
published rules (not copied), and the parity check of our per-sample scores against the authors'.

The authors' rules (GitHub PeiwenSun2000/SpaceVista: eval/evaluate_api.py, eval/metrics/common.py,
eval/metrics/spacevista_bench.py), per results line {"id", "ground_truth", "predicted_answer", "answer_type",
"category", …}:
- answer type: "mc" when the ground truth is one of A–E, "numerical" when it parses as a float, else "text";
- the answer is the content of the FIRST `<answer>…</answer>` (stripped), else the whole prediction;
- mc: a letter A–D at the very start, in any case, followed by a word boundary is that letter (upper-cased), else
  the stripped answer itself; scored by case-insensitive equality with the ground truth;
- numerical: the first number word of the list zero…twenty, thirty…ninety, "a", "an" (= 1), tried in that order, that
  appears as a whole word, else the first `-?digits(.digits)?`; units are ignored; no number scores 0; MRA over the
  thresholds numpy.linspace(0.5, 0.95, 10), |ŷ − y| / |y| ≤ 1 − θ compared in binary floating point;
- text: case-insensitive equality of the answer with the ground truth;
- overall: the mean over samples; per category: the mean over the category's samples.
lmms-eval's VSI-Bench task (lmms_eval/tasks/vsibench/utils.py): the first space-separated token with trailing "."
removed; multiple choice by case-insensitive equality, numeric by float() of that token (else 0) and the same MRA.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from schemas.qa import OPTION_LETTERS, QARow
from schemas.tiers import UNIT_PER_METRE, UNIT_SYMBOL, DisplayUnit
from training.metrics import extract_choice, extract_quantity, score_response
from training.seed_format import seed_answer

AUTHORS_THRESHOLDS = np.linspace(0.5, 0.95, 10)
_NUMBER_WORDS = [*"zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
                  "sixteen seventeen eighteen nineteen twenty".split(),
                 *"thirty forty fifty sixty seventy eighty ninety".split()]
_WORD_VALUE = {**{w: float(i) for i, w in enumerate(_NUMBER_WORDS[:21])},
               **{w: float(30 + 10 * i) for i, w in enumerate(_NUMBER_WORDS[21:])}, "a": 1.0, "an": 1.0}


def answer_type(ground_truth: str) -> str:
    text = str(ground_truth).strip()
    if text in OPTION_LETTERS:
        return "mc"
    try:
        float(text)
    except ValueError:
        return "text"
    return "numerical"


def tagged_answer(prediction: str) -> str:
    match = re.search(r"<answer>(.*?)</answer>", prediction, re.DOTALL | re.IGNORECASE)
    return match.group(1).strip() if match else prediction


def leading_letter(answer: str) -> str:
    match = re.match(r"\s*([A-D])\b", answer.strip(), re.IGNORECASE)
    return match.group(1).upper() if match else answer.strip()


def first_number(answer: str) -> float | None:
    text = answer.strip().lower()
    for word, value in _WORD_VALUE.items():
        if re.search(rf"\b{word}\b", text):
            return value
    match = re.search(r"-?\d+(?:\.\d+)?", text)
    return float(match.group(0)) if match else None


def authors_mra(prediction: float | None, truth: float) -> float:
    if prediction is None:
        return 0.0
    error = abs(prediction - truth) if truth == 0 else abs((prediction - truth) / truth)
    return float(np.mean(error <= 1 - AUTHORS_THRESHOLDS))


def authors_score(ground_truth: str, prediction: str) -> float:
    """One results line's score by the authors' rules."""
    answer, kind = tagged_answer(prediction), answer_type(ground_truth)
    if kind == "mc":
        return float(leading_letter(answer).lower() == ground_truth.strip().lower())
    if kind == "numerical":
        return authors_mra(first_number(answer), float(ground_truth))
    return float(answer.strip().lower() == ground_truth.strip().lower())


def lmms_eval_score(ground_truth: str, prediction: str) -> float:
    """lmms-eval's VSI-Bench score of a raw prediction (that task asks for a bare answer, no tags)."""
    token = prediction.split(" ")[0].rstrip(".").strip()
    if answer_type(ground_truth) == "mc":
        return float(token.lower() == ground_truth.lower())
    try:
        value = float(token)
    except ValueError:
        return 0.0
    return authors_mra(value, float(ground_truth))


# --- parity ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Difference:
    qa_id: str
    prediction: str
    ground_truth: str
    ours: float
    theirs: float
    reason: str | None
    """Why the two scores differ, or None when no rule explains it (a parity failure)."""


def _letter(row: QARow, shift: int = 0) -> str:
    n = len(row.answer.options)
    return OPTION_LETTERS[(OPTION_LETTERS.index(row.answer.correct_letter) + shift) % n]


def _shown(row: QARow, factor: float = 1.0) -> str:
    return f"{row.answer.display_value * factor:.6g}"


def _symbol(row: QARow) -> str:
    symbol = UNIT_SYMBOL[row.answer.unit]
    return symbol if row.answer.unit is DisplayUnit.DEG else f" {symbol}" if symbol else ""


_SMALL_WORDS = _NUMBER_WORDS[:20]
_TENS_WORDS = ["twenty", *_NUMBER_WORDS[21:]]


def _in_words(value: float) -> str | None:
    if value != int(value) or not 0 <= value < 100:
        return None
    n = int(value)
    if n < 20:
        return _SMALL_WORDS[n]
    return _TENS_WORDS[n // 10 - 2] + ("" if n % 10 == 0 else "-" + _SMALL_WORDS[n % 10])


_OTHER_LENGTH_UNIT = {DisplayUnit.MM: DisplayUnit.CM, DisplayUnit.CM: DisplayUnit.MM, DisplayUnit.M: DisplayUnit.CM,
                      DisplayUnit.KM: DisplayUnit.M}


def _in_other_unit(row: QARow) -> str | None:
    other = _OTHER_LENGTH_UNIT.get(row.answer.unit)
    if other is None:
        return None
    value = row.answer.display_value / UNIT_PER_METRE[row.answer.unit] * UNIT_PER_METRE[other]
    return f"{value:.6g} {UNIT_SYMBOL[other]}"


def _mixed(row: QARow, index: int) -> str:
    """The answer forms of docs/SCORING.md in turn: letters as "b", "(B)", "Option B", "B.", "B) text" and a
    reasoning tag; numbers as words, with the shown unit, in another unit and in a sentence."""
    if row.answer.kind == "multiple_choice":
        letter = row.answer.correct_letter
        forms = [letter.lower(), f"({letter})", f"Option {letter}", f"{letter}.",
                 f"{letter}) {row.answer.correct_option}", f"<think>Compare them.</think>\n<answer>{letter}</answer>"]
        return forms[index % len(forms)]
    forms = [_in_words(row.answer.display_value), f"{_shown(row)}{_symbol(row)}", _in_other_unit(row),
             f"It measures {_shown(row)}{_symbol(row)} here."]
    return forms[index % len(forms)] or f"{_shown(row)}{_symbol(row)}"


def _numeric_or_letter(factor: float, shift: int) -> Callable[[QARow, int], str]:
    def predict(row: QARow, index: int) -> str:
        if row.answer.kind == "multiple_choice":
            return f"<answer>{_letter(row, shift)}</answer>"
        return f"<answer>{_shown(row, factor)}</answer>"
    return predict


SCENARIOS: dict[str, Callable[[QARow, int], str]] = {
    "perfect": _numeric_or_letter(1.0, 0),
    "×1.07": _numeric_or_letter(1.07, 0),
    "×1.3": _numeric_or_letter(1.3, 0),
    "×2": _numeric_or_letter(2.0, 0),
    "wrong letter": _numeric_or_letter(1.0, 1),
    "mixed": _mixed,
}
"""Prediction text per benchmark row (and its position): numbers scaled from the shown value, MC answers right unless
the scenario says otherwise."""


def compare(rows: list[QARow], scenario: str) -> tuple[list[float], list[float], list[Difference]]:
    """Our per-sample scores, the authors' per-sample scores (on the seed export's `answer`), and every difference."""
    ours, theirs, differences = [], [], []
    for index, row in enumerate(rows):
        prediction = SCENARIOS[scenario](row, index)
        ground_truth, _ = seed_answer(row.answer)
        our, _ = score_response(prediction, row.answer)
        their = authors_score(ground_truth, prediction)
        ours.append(our)
        theirs.append(their)
        if our != their:
            differences.append(Difference(row.qa_id, prediction, ground_truth, our, their,
                                          explain(row, prediction, ground_truth, our, their)))
    return ours, theirs, differences


def explain(row: QARow, prediction: str, ground_truth: str, ours: float, theirs: float) -> str | None:
    """Which documented rule makes the two scorers differ on this prediction (our score `ours`, theirs `theirs`), or
    None. A threshold tie also needs our score to be the SPEC's exact one against the shown value."""
    answer = tagged_answer(prediction)
    if row.answer.kind == "multiple_choice":
        our_letter = extract_choice(prediction, row.answer.options).letter
        their_letter = leading_letter(answer).upper()
        if our_letter is not None and their_letter != our_letter:
            return "letter form: their scorer reads only a letter A–D at the very start of the answer"
        if our_letter is None and their_letter in OPTION_LETTERS:
            return "letter form: their scorer reads the word \"a\" at the start as option A"
        return None
    extraction = extract_quantity(prediction, row.answer.unit)
    theirs_value = first_number(answer)
    if extraction.value_si is None or theirs_value is None:
        return "number form: one scorer reads no number" if (extraction.value_si is None) != (
            theirs_value is None) else None
    ours_value = extraction.value_si * UNIT_PER_METRE.get(row.answer.unit, 1.0)
    if _decimal(ours_value) != _decimal(theirs_value):
        stated = re.search(r"\d\s*([^\d\s.,]+)", answer)
        if stated and stated.group(1).lower() != UNIT_SYMBOL[row.answer.unit].lower():
            return "unit: ours converts a stated unit to the shown one, theirs reads the bare number"
        if any(re.search(rf"\b{word}\b", answer.lower()) for word in _WORD_VALUE):
            return "number form: their scorer reads number words first, in list order (\"forty-two\" is 2, \"a\" is 1)"
        return None
    error = abs(_decimal(ours_value) - _decimal(ground_truth)) / abs(_decimal(ground_truth))
    on_threshold = error * 20 == int(error * 20) and Fraction(1, 20) <= error <= Fraction(1, 2)
    if on_threshold and ours == exact_mra(error) and abs(ours - theirs - 0.1) < 1e-9:
        return (f"threshold tie: the error is exactly {float(error):.0%} = 1 − θ; the SPEC's ≤ counts it, their "
                f"binary floating point loses it by one ulp")
    return None


def exact_mra(error: Fraction) -> float:
    """SPEC.md's MRA of an exact relative error: (1/10) Σ_θ 1[error ≤ 1 − θ], θ = 0.50, 0.55, …, 0.95."""
    return sum(error <= 1 - Fraction(50 + 5 * i, 100) for i in range(10)) / 10


def _decimal(value: float | str) -> Fraction:
    """A number as the decimal it is written as, exactly (a computed float to 12 significant digits, which drops the
    noise of a unit conversion)."""
    return Fraction(value if isinstance(value, str) else f"{value:.12g}")
