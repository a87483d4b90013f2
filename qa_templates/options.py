"""Multiple-choice options: correct answer placed at a letter drawn from the question's own hash."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from schemas.qa import OPTION_LETTERS


def place_correct(correct: str, distractors: Sequence[str], key: str) -> tuple[list[str], str]:
    """Options with the correct one at a deterministic, uniformly spread letter.

    The position comes from a hash of `key` (the question's identity), so letters balance over a run and the
    same question gets the same layout in every run regardless of processing order.
    """
    distractors = [d for d in dict.fromkeys(distractors) if d != correct]
    n = len(distractors) + 1
    if not 2 <= n <= len(OPTION_LETTERS):
        raise ValueError(f"need 1–{len(OPTION_LETTERS) - 1} distinct distractors, got {len(distractors)}")
    slot = int(hashlib.sha1(key.encode()).hexdigest(), 16) % n
    options = distractors[:slot] + [correct] + distractors[slot:]
    return options, OPTION_LETTERS[slot]


def mc_answer(correct: str, distractors: Sequence[str], key: str) -> tuple[dict, str]:
    """Answer fields for an MC question and the <answer> text (the letter)."""
    options, letter = place_correct(correct, distractors, key)
    return {"options": options, "correct_letter": letter}, letter


def yes_no_answer(truth: bool) -> tuple[dict, str]:
    """Yes/no options in fixed order (A yes, B no), as the public format lists them."""
    letter = "A" if truth else "B"
    return {"options": ["yes", "no"], "correct_letter": letter}, letter


def options_block(options: Sequence[str]) -> str:
    """'A. …\\nB. …' appended to an MC question."""
    return "\n".join(f"{OPTION_LETTERS[i]}. {text}" for i, text in enumerate(options))
