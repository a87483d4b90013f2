"""Deterministic, seeded generator of all-scale synthetic scenes with exact ground truth.

`generate_scene(tier, seed, out_dir)` writes one annotated scene directory (layout of schemas/annotations.py):
H.264 video, exact ray-cast depth along the optical axis, instance masks, camera poses and 3D boxes.
"""

from sources.synthetic.generate import generate_default_dataset, generate_scene
from sources.synthetic.render import RenderedFrame, SceneRenderer
from sources.synthetic.scene_specs import build_scene, scene_id_for
from sources.synthetic.settings import RenderSettings
from sources.synthetic.world import SyntheticScene
from sources.synthetic.writer import is_complete_scene

__all__ = ["RenderSettings", "RenderedFrame", "SceneRenderer", "SyntheticScene", "build_scene",
           "generate_default_dataset", "generate_scene", "is_complete_scene", "scene_id_for"]
