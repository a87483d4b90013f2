"""How a question refers to objects: by name when unambiguous, or by a point/box/mask drawn on a frame."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from qa_templates.phrasing import category_name
from schemas.facts import ObjectFact, ObjectObservation, SceneFacts
from schemas.qa import InputType

PROMPT_COLORS = ("red", "green", "blue", "yellow", "magenta")
_VISUAL_KINDS = (InputType.POINT, InputType.BBOX, InputType.MASK, InputType.POINT_BBOX)


@dataclass(frozen=True)
class ReferenceSet:
    """How each object of a question is named, and the visual prompts that naming needs."""

    input_type: InputType
    names: tuple[str, ...]
    prompts: tuple[dict, ...]


def category_is_unique(facts: SceneFacts, obj: ObjectFact) -> bool:
    """True when no other instance of the object's category shows in the video, not even one too small to lift
    (the scene's pixel-level sightings): only then does "the <category>" name it."""
    others = {o.instance_id for o in facts.objects if o.category == obj.category}
    others |= {s.instance_id for s in facts.scene.sightings if s.category == obj.category}
    return others <= {obj.instance_id}


def frame_number(facts: SceneFacts, video_frame: int) -> int:
    """The number questions, prompts and exports give a keyframe: frame k is the k-th frame shown (from 1; a QA
    shows all keyframes, in time order). `video_frame` is the keyframe's frame number in the video."""
    return [c.frame_index for c in facts.cameras].index(video_frame) + 1


def reference_sets(facts: SceneFacts, objects: Sequence[ObjectFact],
                   rng: np.random.Generator) -> Iterator[ReferenceSet]:
    """A text variant when every object's category is unique in the scene, and one visual-prompt variant."""
    if all(category_is_unique(facts, o) for o in objects):
        yield ReferenceSet(InputType.TEXT, tuple(f"the {category_name(o.category)}" for o in objects), ())
    kinds = [k for k in _VISUAL_KINDS
             if (k is not InputType.MASK or all(_largest_view(o).mask_path for o in objects))
             and (k is not InputType.POINT_BBOX or len(objects) >= 2)]
    kind = kinds[int(rng.integers(len(kinds)))]
    names, prompts = [], []
    for i, obj in enumerate(objects):
        prompt_kind = ("point" if i == 0 else "bbox") if kind is InputType.POINT_BBOX else kind.value
        name, prompt = visual_prompt(facts, obj, prompt_kind, PROMPT_COLORS[i % len(PROMPT_COLORS)])
        names.append(name)
        prompts.append(prompt)
    yield ReferenceSet(kind, tuple(names), tuple(prompts))


def visual_prompt(facts: SceneFacts, obj: ObjectFact, kind: str, color: str) -> tuple[str, dict]:
    """Prompt on the keyframe where the object is seen largest; returns its phrase and the prompt fields."""
    seen = _largest_view(obj)
    frame_no = frame_number(facts, seen.frame_index)
    if kind == "point":
        coords, name = list(seen.point_xy), f"the object marked by the {color} point in frame {frame_no}"
    elif kind == "bbox":
        coords, name = list(seen.bbox_xyxy), f"the object inside the {color} box in frame {frame_no}"
    else:
        coords, name = [], f"the object covered by the {color} mask in frame {frame_no}"
    prompt = {"kind": kind, "frame": frame_no, "object_id": obj.object_id, "coords": coords,
              "mask_path": seen.mask_path if kind == "mask" else None, "color": color}
    return name, prompt


def _largest_view(obj: ObjectFact) -> ObjectObservation:
    return max(obj.observations, key=lambda o: o.pixel_count)
