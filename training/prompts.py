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
PROMPT_BGR = {"red": (0, 0, 255), "green": (0, 255, 0), "blue": (255, 0, 0), "yellow": (0, 255, 255),
              "magenta": (255, 0, 255), "cyan": (255, 255, 0), "orange": (0, 165, 255), "white": (255, 255, 255)}
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
    frames = [_frame_jpeg(layout, row, i, draw_visual_prompts) for i in range(len(row.frame_paths))]
    return ChatPrompt(frames, f"{row.question}\n{instruction or ANSWER_FORMAT[row.answer.kind]}")


def chat_content(prompt: ChatPrompt, image_part) -> list[dict]:
    """Interleaved content parts: "Frame k:" text, then `image_part(jpeg)`, for every frame; the question last."""
    parts: list[dict] = []
    for k, jpeg in enumerate(prompt.frames_jpeg, start=1):
        parts += [{"type": "text", "text": f"Frame {k}:"}, image_part(jpeg)]
    return parts + [{"type": "text", "text": prompt.text}]


def _frame_jpeg(layout: OutputLayout, row: QARow, index: int, draw: bool) -> bytes:
    path = _artifact(layout, row.frame_paths[index], f"frame {index + 1}")
    prompts = [p for p in row.visual_prompts if p.image_index == index] if draw else []
    if not prompts and path.suffix.lower() in (".jpg", ".jpeg"):
        return path.read_bytes()
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise SampleError(f"frame {index + 1} ({path}) is not a readable image")
    for prompt in prompts:
        _draw(layout, image, prompt)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise SampleError(f"frame {index + 1} ({path}) could not be encoded as JPEG")
    return encoded.tobytes()


def _draw(layout: OutputLayout, image: np.ndarray, prompt: VisualPrompt) -> None:
    """Draw a point (filled disc), box (outline) or mask (50 % tint) in the prompt's colour, as questions name it."""
    if prompt.color not in PROMPT_BGR:
        raise SampleError(f"visual prompt colour {prompt.color!r} is not one of {', '.join(PROMPT_BGR)}")
    color = PROMPT_BGR[prompt.color]
    height, width = image.shape[:2]
    if prompt.kind == "point":
        centre = (round(prompt.coords[0]), round(prompt.coords[1]))
        radius = max(3, round(min(height, width) / 60))
        cv2.circle(image, centre, radius + 1, (0, 0, 0), -1)
        cv2.circle(image, centre, radius, color, -1)
    elif prompt.kind == "bbox":
        x1, y1, x2, y2 = (round(c) for c in prompt.coords)
        cv2.rectangle(image, (x1, y1), (x2, y2), color, max(2, round(min(height, width) / 200)))
    else:
        if prompt.mask_path is None:
            raise SampleError(f"mask prompt for {prompt.object_id} has no mask_path")
        mask = cv2.imread(str(_artifact(layout, prompt.mask_path, "mask")), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            raise SampleError(f"mask {prompt.mask_path} is not a readable image")
        if mask.shape != (height, width):
            mask = cv2.resize(mask, (width, height), interpolation=cv2.INTER_NEAREST)
        covered = mask > 0
        image[covered] = (0.5 * image[covered] + 0.5 * np.array(color)).astype(np.uint8)


def _artifact(layout: OutputLayout, relative: str, what: str) -> Path:
    """An artifact path under the output root; a path that leaves the root or does not exist is a sample error."""
    root = layout.root.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise SampleError(f"{what} path {relative!r} leaves the output root {root}")
    if not path.is_file():
        raise SampleError(f"{what} {relative} is missing under {root}")
    return path
