"""Sample QA as the model sees them: frames with their visual prompts drawn, as small inline JPEG images."""

from __future__ import annotations

import base64
from dataclasses import dataclass

import cv2
import numpy as np

from qa_templates.units import length_answer, quantity_answer
from schemas.qa import QARow
from schemas.tiers import UNIT_PER_METRE
from storage.layout import OutputLayout
from training.prompts import SampleError, qa_prompt

MAX_FRAMES = 4
THUMBNAIL_HEIGHT = 288
THUMBNAIL_QUALITY = 82


@dataclass(frozen=True)
class SampleFrame:
    number: int
    """The frame number, as the question and the model's prompt ("Frame 3:") give it."""
    data_uri: str
    prompted: bool
    """A visual prompt is drawn on it."""


@dataclass(frozen=True)
class SampleView:
    row: QARow
    answer: str
    frames: list[SampleFrame]
    """Up to MAX_FRAMES drawn frames (see shown_frames)."""
    error: str | None = None
    """Why the frames could not be shown (a missing frame or mask); the QA text is still shown."""


def sample_views(rows: list[QARow], layout: OutputLayout) -> list[SampleView]:
    return [_view(row, layout) for row in rows]


def answer_text(row: QARow) -> str:
    """The correct answer as the templates phrase it: 'B. left of the chair' or '12.5 cm'."""
    answer = row.answer
    if answer.kind == "multiple_choice":
        return f"{answer.correct_letter}. {answer.correct_option}"
    if answer.unit in UNIT_PER_METRE:
        return length_answer(answer.value_si, row.scale)[1]
    return quantity_answer(answer.value_si, answer.unit)[1]


def shown_frames(row: QARow) -> list[int]:
    """Frame numbers (from 1, as the question numbers them) to show, in order: the frames the question names
    (QARow.named_frames), then evenly spaced others, MAX_FRAMES in all."""
    named = row.named_frames[:MAX_FRAMES]
    others = [k for k in range(1, len(row.frame_paths) + 1) if k not in named]
    room = MAX_FRAMES - len(named)
    picks = [others[round(k)] for k in np.linspace(0, len(others) - 1, min(room, len(others)))] if room else []
    return sorted({*named, *picks})


def _view(row: QARow, layout: OutputLayout) -> SampleView:
    try:
        jpegs = qa_prompt(row, layout).frames_jpeg
    except SampleError as err:
        return SampleView(row, answer_text(row), [], str(err))
    prompted = {p.frame for p in row.visual_prompts}
    return SampleView(row, answer_text(row), [SampleFrame(k, _thumbnail(jpegs[k - 1]), k in prompted)
                                              for k in shown_frames(row)])


def _thumbnail(jpeg: bytes) -> str:
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    height, width = image.shape[:2]
    if height > THUMBNAIL_HEIGHT:
        size = (round(width * THUMBNAIL_HEIGHT / height), THUMBNAIL_HEIGHT)
        image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, THUMBNAIL_QUALITY])
    if not ok:
        raise SampleError("a drawn frame could not be re-encoded as a JPEG thumbnail")
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")
