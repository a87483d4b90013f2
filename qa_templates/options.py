"""Multiple-choice options: the correct answer and its distinct distractors (`generate._LetterCycle` then places
the correct one at a letter, in turn within each scene's task), and questions picked so that no answer dominates a
task."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import TypeVar

import numpy as np

from schemas.qa import OPTION_LETTERS

T = TypeVar("T")

MAX_ANSWER_SHARE = 0.4
"""No correct option text may answer more than 40% of a task's rows in a scene (and so in a tier or a run) where
three or more answers occur; where only two can (a camera that only turns, parts only near or far apart), they are
asked half and half; a yes/no task stays within 60/40."""
TWO_ANSWER_SHARE = 0.5
MAX_YES_NO_SHARE = 0.6
ONE_SIDED_ANSWERS = "one_sided_answers"
"""A scene offers too few different answers for a task to ask it without one answer dominating."""


def mc_answer(correct: str, distractors: Sequence[str]) -> tuple[dict, str]:
    """Answer fields for an MC question and the <answer> text (the letter): the correct option first, then the
    distractors in their order, repeats and the correct one left out; `generate._LetterCycle` moves the correct
    one to its letter."""
    distractors = [d for d in dict.fromkeys(distractors) if d != correct]
    if not 1 <= len(distractors) < len(OPTION_LETTERS):
        raise ValueError(f"need 1–{len(OPTION_LETTERS) - 1} distinct distractors, got {len(distractors)}")
    return {"options": [correct, *distractors], "correct_letter": OPTION_LETTERS[0]}, OPTION_LETTERS[0]


def yes_no_answer(truth: bool) -> tuple[dict, str]:
    """Yes/no options in fixed order (A yes, B no), as the public format lists them."""
    letter = "A" if truth else "B"
    return {"options": ["yes", "no"], "correct_letter": letter}, letter


def options_block(options: Sequence[str]) -> str:
    """'A. …\\nB. …' appended to an MC question."""
    return "\n".join(f"{OPTION_LETTERS[i]}. {text}" for i, text in enumerate(options))


def answer_share_limit(answer: str, n_answers: int) -> float:
    """The largest share of a task's rows one correct option may answer, when `n_answers` different ones occur."""
    if answer in ("yes", "no"):
        return MAX_YES_NO_SHARE
    return MAX_ANSWER_SHARE if n_answers >= 3 else TWO_ANSWER_SHARE


def balanced_pick(candidates: Sequence[T], answers: Sequence[str], weights: Sequence[int], limit: int,
                  rng: np.random.Generator) -> list[T]:
    """Up to `limit` candidates taken one answer at a time (answers in random order, each one's candidates
    shuffled): the longest such run in which no answer carries more than its `answer_share_limit` of the weight
    (a candidate's weight is the number of rows it yields); empty when no run qualifies, as when the scene offers
    one answer."""
    queues: dict[str, list] = defaultdict(list)
    for candidate, answer, weight in zip(candidates, answers, weights):
        queues[answer].append((candidate, answer, weight))
    names = sorted(queues)
    order = [[queues[names[k]][i] for i in rng.permutation(len(queues[names[k]]))]
             for k in rng.permutation(len(names))]
    run = []
    while any(order):
        run.extend(queue.pop() for queue in order if queue)
    best, carried, total = 0, Counter(), 0
    for length, (_, answer, weight) in enumerate(run[:limit], start=1):
        carried[answer] += weight
        total += weight
        top, n_top = carried.most_common(1)[0]
        if n_top <= answer_share_limit(top, len(queues)) * total + 1e-9:
            best = length
    return [candidate for candidate, _, _ in run[:best]]
