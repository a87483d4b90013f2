"""Scoring: Mean Relative Accuracy for numeric answers (VSI-Bench), exact match for multiple choice."""

from __future__ import annotations

import math

MRA_THRESHOLDS = tuple(round(0.50 + 0.05 * i, 2) for i in range(10))
"""θ ∈ {0.50, 0.55, …, 0.95}, exactly (not a float linspace, whose 0.95 ≠ 0.95)."""


def mean_relative_accuracy(prediction: float | None, truth: float) -> float:
    """MRA = (1/10) Σ_θ 1[|ŷ − y| / |y| ≤ 1 − θ]; an unparseable (None) or non-finite prediction scores 0.

    The ground truth must be a non-zero finite number: relative error is undefined at y = 0.
    """
    if not math.isfinite(truth) or truth == 0:
        raise ValueError(f"MRA needs a non-zero finite ground truth, got {truth!r}")
    if prediction is None or not math.isfinite(prediction):
        return 0.0
    relative_error = abs(prediction - truth) / abs(truth)
    # compare in integer hundredths so that a boundary case such as an error of exactly 5% passes θ = 0.95
    error_hundredths = relative_error * 100
    return sum(error_hundredths <= round((1 - theta) * 100) + 1e-9 for theta in MRA_THRESHOLDS) / len(MRA_THRESHOLDS)
