"""What a model is shown for one QA: its frames (visual prompts drawn on them, JPEG-encoded), labelled
"Frame 1:" … in order, and the question with an answer-format instruction."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from schemas.qa import QARow, VisualPrompt
from storage.layout import OutputLayout

ANSWER_FORMAT = {
    "multiple_choice": "Answer with the letter of the correct option, inside <answer></answer>.",
    "numeric": "Answer with a number and its unit, inside <answer></answer>.",
}
PROMPT_BGR: dict[str, tuple[int, int, int]] = {
    "red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0), "yellow": (0, 255, 255), "magenta": (255, 0, 255),
}
"""Colours the QA templates name (qa_templates.referring.PROMPT_COLORS), as OpenCV BGR."""
MASK_ALPHA = 0.5
JPEG_QUALITY = 90


class SampleError(Exception):
    """A sample could not be prompted or answered (missing frame, unusable model reply): recorded, the rest goes on."""


@dataclass(frozen=True)
class ChatPrompt:
    frames_jpeg: list[bytes]
    text: str


def qa_prompt(row: QARow, layout: OutputLayout, instruction: str | None = None,
              draw_visual_prompts: bool = True) -> ChatPrompt:
    """The frames and question of `row`; `instruction` defaults to the answer format of its answer kind."""
    frames = [_frame_jpeg(layout, row, k, draw_visual_prompts) for k in range(1, len(row.frame_paths) + 1)]
    return ChatPrompt(frames, f"{row.question}\n{instruction or ANSWER_FORMAT[row.answer.kind]}")


def chat_content(prompt: ChatPrompt, image_part) -> list[dict]:
    """Interleaved content parts: "Frame k:" text, then `image_part(jpeg)`, for every frame; the question last."""
    parts: list[dict] = []
    for k, jpeg in enumerate(prompt.frames_jpeg, start=1):
        parts += [{"type": "text", "text": f"Frame {k}:"}, image_part(jpeg)]
    return parts + [{"type": "text", "text": prompt.text}]


def _frame_jpeg(layout: OutputLayout, row: QARow, frame: int, draw: bool) -> bytes:
    """Frame number `frame` (from 1, as the question numbers it) as JPEG, its visual prompts drawn if `draw`."""
    path = _artifact(layout, row.frame_paths[frame - 1], f"frame {frame}")
    prompts = [p for p in row.visual_prompts if p.frame == frame] if draw else []
    if not prompts and path.suffix.lower() in (".jpg", ".jpeg"):
        return path.read_bytes()
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SampleError(f"frame {frame} ({path}) is not a readable image")
    unknown = sorted({p.color for p in prompts} - set(PROMPT_BGR))
    if unknown:
        raise SampleError(f"visual prompt colours {unknown} are not among {', '.join(PROMPT_BGR)}")
    masks = {p.mask_path: _mask(layout, p, image.shape[:2]) for p in prompts if p.kind == "mask"}
    image = draw_prompts(image, prompts, masks)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise SampleError(f"frame {frame} ({path}) could not be encoded as JPEG")
    return encoded.tobytes()


def _mask(layout: OutputLayout, prompt: VisualPrompt, shape: tuple[int, int]) -> np.ndarray:
    """The boolean mask of a mask prompt, at the frame's size."""
    if prompt.mask_path is None:
        raise SampleError(f"mask prompt for {prompt.object_id} has no mask_path")
    mask = cv2.imread(str(_artifact(layout, prompt.mask_path, "mask")), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise SampleError(f"mask {prompt.mask_path} is not a readable image")
    if mask.shape != shape:
        mask = cv2.resize(mask, (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)
    return mask > 0


def stroke_sizes(height: int, width: int) -> tuple[int, int]:
    """(point radius, box line thickness) in pixels for a frame of this size."""
    side = min(height, width)
    return max(3, round(side / 80)), max(2, round(side / 200))


def draw_prompts(image: np.ndarray, prompts: list[VisualPrompt], masks: dict[str, np.ndarray]) -> np.ndarray:
    """A copy of a BGR frame with its prompts drawn: a filled point, a box outline, a mask blended in its colour.

    Drawn without anti-aliasing, so exactly the prompt's pixels change."""
    out = image.copy()
    radius, thickness = stroke_sizes(*image.shape[:2])
    for prompt in prompts:
        color = PROMPT_BGR[prompt.color]
        if prompt.kind == "point":
            x, y = (round(v) for v in prompt.coords)
            cv2.circle(out, (x, y), radius, color, thickness=-1, lineType=cv2.LINE_8)
        elif prompt.kind == "bbox":
            x1, y1, x2, y2 = (round(v) for v in prompt.coords)
            cv2.rectangle(out, (x1, y1), (x2, y2), color, thickness=thickness, lineType=cv2.LINE_8)
        else:
            region = masks[prompt.mask_path]
            blended = (1 - MASK_ALPHA) * out[region] + MASK_ALPHA * np.asarray(color, dtype=float)
            out[region] = np.round(blended).astype(np.uint8)
    return out


def _artifact(layout: OutputLayout, relative: str, what: str) -> Path:
    """An artifact path under the output root; a path that leaves the root or does not exist is a sample error."""
    root = layout.local_root.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise SampleError(f"{what} path {relative!r} leaves the output root {root}")
    if not path.is_file():
        raise SampleError(f"{what} {relative} is missing under {root}")
    return path
