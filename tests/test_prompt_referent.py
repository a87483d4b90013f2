"""Every visual prompt drawn from exact facts (the benchmark's) lands on its referent: in a tight cluster of boxes
that hide each other, a prompt's point is a pixel of the object and its box is the box of the object's visible
pixels. Truth: exact boxes cast per pixel (tests/box_views), never through facts/."""

from __future__ import annotations

import numpy as np

from facts.exact import exact_scene_facts
from qa_templates.generate import generate_scene_qa
from schemas.annotations import (CameraFrame, CameraTrack, Intrinsics, ObjectAnnotation, OrientedBox,
                                 SceneAnnotation)
from schemas.tiers import ScaleTier
from tests.box_views import cast, look_at

K = Intrinsics(fx=432, fy=432, cx=240, cy=180, width=480, height=360)


def _crowded():
    """Ten boxes packed in two rows, seen low from the side: most of them partly hidden behind the next."""
    rng = np.random.default_rng(7)
    objects = [ObjectAnnotation(instance_id=i + 1, category=("box", "bin", "crate")[i % 3], box=OrientedBox(
        center=(0.35 * (i % 5) - 0.7, 0.4 * (i // 5), 0.15 + 0.05 * (i % 2)),
        size=(0.25, 0.2, 0.3 + 0.1 * (i % 2)), yaw_deg=float(rng.uniform(0, 90)))) for i in range(10)]
    annotation = SceneAnnotation(scene_id="crowd", tier=ScaleTier.TABLETOP, objects=objects)
    poses = [look_at([1.6 * np.cos(a), 1.6 * np.sin(a) + 0.2, 0.35], [0.0, 0.2, 0.15])
             for a in np.radians(np.linspace(-120, -60, 8))]
    track = CameraTrack(fps=6.0, intrinsics=K, frames=[
        CameraFrame(index=i, camera_to_world=tuple(map(tuple, p))) for i, p in enumerate(poses)])
    truth = {i: cast({o.instance_id: o.box for o in objects}, p, K, ground=False)[1] for i, p in enumerate(poses)}
    return annotation, track, truth


def _truth_box(ids: np.ndarray, instance: int) -> np.ndarray:
    ys, xs = np.nonzero(ids == instance)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)


def test_every_observation_point_and_box_lies_on_its_object():
    annotation, track, truth = _crowded()
    facts = exact_scene_facts(annotation, track, sorted(truth), "v")
    partly_hidden = 0
    for obj in facts.objects:
        for seen in obj.observations:
            ids = truth[seen.frame_index]
            x, y = (int(c) for c in seen.point_xy)
            assert ids[y, x] == obj.instance_id, (obj.object_id, seen.frame_index, int(ids[y, x]))
            np.testing.assert_allclose(seen.bbox_xyxy, _truth_box(ids, obj.instance_id), atol=1.0)
            partly_hidden += not seen.complete
    assert partly_hidden >= 10  # the scene is crowded: many views are cut by a nearer box


def test_every_prompt_of_the_generated_questions_belongs_to_its_referent():
    annotation, track, truth = _crowded()
    keyframes = sorted(truth)
    facts = exact_scene_facts(annotation, track, keyframes, "v")
    instance = {o.object_id: o.instance_id for o in facts.objects}
    checked = 0
    for row in generate_scene_qa(facts, "run", seed=0).rows:
        for prompt in row.visual_prompts:
            ids = truth[keyframes[prompt.frame - 1]]
            referent = instance[prompt.object_id]
            if prompt.kind == "point":
                x, y = (int(c) for c in prompt.coords)
                assert ids[y, x] == referent, (row.task_type, prompt)
            elif prompt.kind == "bbox":
                np.testing.assert_allclose(prompt.coords, _truth_box(ids, referent), atol=1.0)
            checked += 1
    assert checked > 20
