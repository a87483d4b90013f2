"""Randomized phrasing: each task keeps several templates; the scene's generator picks one."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def phrase(rng: np.random.Generator, templates: Sequence[str], **slots: object) -> tuple[str, int]:
    """Fill one of `templates` (chosen by `rng`) with `slots`; returns the text and the template's index."""
    index = int(rng.integers(len(templates)))
    return templates[index].format(**slots), index


def category_name(category: str) -> str:
    """A category as words: 'tv_stand' → 'tv stand'."""
    return category.replace("_", " ")
