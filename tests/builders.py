"""Small hand-built scenes for unit tests: exact boxes + an orbiting camera → SceneFacts."""

from __future__ import annotations

import numpy as np

from facts.exact import exact_scene_facts
from schemas.annotations import (CameraFrame, CameraTrack, Intrinsics, ObjectAnnotation, OrientedBox,
                                 RegionAnnotation, SceneAnnotation)
from schemas.facts import SceneFacts
from schemas.tiers import ScaleTier
from tests.box_views import look_at


def orbit_track(radius: float, height: float, n_frames: int = 8, arc_deg: float = 90.0,
                start_deg: float = -135.0, target=(0.0, 0.0, 0.0)) -> CameraTrack:
    angles = np.radians(start_deg + np.linspace(0.0, arc_deg, n_frames))
    frames = [CameraFrame(index=i, camera_to_world=tuple(map(tuple, look_at(
        [radius * np.cos(a) + target[0], radius * np.sin(a) + target[1], height], target))))
        for i, a in enumerate(angles)]
    return CameraTrack(fps=6.0, intrinsics=Intrinsics(fx=460, fy=460, cx=256, cy=192, width=512, height=384),
                       frames=frames)


def scene_facts(tier: ScaleTier, objects: list[tuple[str, tuple, tuple, float]], track: CameraTrack,
                regions: list[tuple[str, tuple, tuple]] = (), scene_id: str = "scene") -> SceneFacts:
    """objects: (category, centre, size, yaw_deg); regions: (kind, centre, size). All keyframes = all frames."""
    annotation = SceneAnnotation(
        scene_id=scene_id, tier=tier,
        objects=[ObjectAnnotation(instance_id=i + 1, category=c, box=OrientedBox(center=ctr, size=s, yaw_deg=y))
                 for i, (c, ctr, s, y) in enumerate(objects)],
        regions=[RegionAnnotation(kind=k, box=OrientedBox(center=ctr, size=s)) for k, ctr, s in regions])
    return exact_scene_facts(annotation, track, [f.index for f in track.frames], video_id=f"video-{scene_id}")


def tabletop_facts() -> SceneFacts:
    """Cups, a book on a box, a bottle: a tabletop scene with a stack and a repeated category."""
    return scene_facts(ScaleTier.TABLETOP, [
        ("cup", (0.0, 0.0, 0.05), (0.08, 0.08, 0.10), 0.0),
        ("cup", (0.25, -0.10, 0.05), (0.08, 0.08, 0.10), 0.0),
        ("box", (-0.25, 0.15, 0.06), (0.30, 0.20, 0.12), 20.0),
        ("book", (-0.25, 0.15, 0.135), (0.23, 0.15, 0.03), 20.0),
        ("bottle", (0.15, 0.25, 0.125), (0.07, 0.07, 0.25), 0.0),
        ("laptop", (-0.1, -0.3, 0.01), (0.33, 0.23, 0.02), -10.0),
    ], orbit_track(radius=0.9, height=0.8))
