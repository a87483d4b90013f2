"""Scale-aware experts: one LoRA expert per tier mixed by a learned softmax router per layer (PEFT X-LoRA).

h = W0·x + Σ_i λ_i α_i B_i A_i x over 4 experts (tiny_tabletop, tabletop, indoor, outdoor; drone is folded into
outdoor, as in the paper). The router reads the base model's last hidden state and gives per-token, per-layer
weights λ. Three PEFT X-LoRA quirks are handled here (ENVIRONMENT.md "Training stack"):

- experts must be named "0", "1", …: they are, in `EXPERT_TIERS` order;
- `save_pretrained` of an X-LoRA model drops router layers whose index collides with those names (and copies base
  weights into every expert folder), so `save_mixture` writes every expert and router tensor to one safetensors
  file itself and `load_mixture` rebuilds the mixture and loads that file back;
- TRL's fused LM head returns no hidden states, which the router's scaling pass needs: `expose_hidden_states`
  wraps the patched forward and drops the fused-head arguments whenever hidden states are requested.
Gradient checkpointing must stay off (the scaling pass runs in `no_grad`), and generation runs without a KV cache
(X-LoRA's two passes per step would share it), so GRPO rollouts re-read the whole sequence at every token.

The router is warm-started as a tier classifier (`fit_router_to_tiers`: each sample's weights, averaged over tokens
and layers, pushed to its tier's expert), so that routing starts scale-aware; SFT and GRPO then train it end to end.
"""

from __future__ import annotations

import functools
import json
import math
import shutil
from collections.abc import Iterable
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from schemas.tiers import ScaleTier
from schemas.training import ExpertConfig

EXPERT_TIERS = (ScaleTier.TINY_TABLETOP, ScaleTier.TABLETOP, ScaleTier.INDOOR, ScaleTier.OUTDOOR)
"""Expert i serves EXPERT_TIERS[i]; PEFT X-LoRA names it str(i)."""
_FOLDED = {ScaleTier.DRONE: ScaleTier.OUTDOOR}
_FUSED_HEAD_ARGS = ("fused_lm_head", "labels", "shift_labels", "num_items_in_batch")
MIXTURE_WEIGHTS = "mixture.safetensors"
MIXTURE_CONFIG = "mixture.json"


def expert_index(tier: ScaleTier | str) -> int:
    """The expert that serves a tier (drone → outdoor)."""
    tier = ScaleTier(tier)
    return EXPERT_TIERS.index(_FOLDED.get(tier, tier))


def expert_tiers(index: int) -> list[ScaleTier]:
    """The tiers whose samples train expert `index`."""
    return [tier for tier in ScaleTier if expert_index(tier) == index]


def check_base_model(path: Path | str) -> Path:
    """The base model as a local directory; anything else (a hub id, a missing path) is refused, nothing downloads."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(
            f"base model {str(path)!r} is not a local directory: models are never downloaded here, pass the path of "
            f"a model saved with save_pretrained (config.json, weights, processor)")
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"base model directory {path} has no config.json: not a saved transformers model")
    return path


def load_base_model(path: Path | str):
    """The base vision-language model from a local directory, in float32, KV cache off (X-LoRA requires it)."""
    from transformers import AutoModelForImageTextToText  # noqa: PLC0415

    model = AutoModelForImageTextToText.from_pretrained(check_base_model(path), dtype=torch.float32)
    model.config.use_cache = False
    model.config.get_text_config().use_cache = False
    return model


def lora_config(config: ExpertConfig):
    """One tier expert: a LoRA on the text decoder's attention projections."""
    from peft import LoraConfig  # noqa: PLC0415

    return LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, target_modules=config.target_modules,
                      lora_dropout=0.0, task_type="CAUSAL_LM")


def build_mixture(base_model_path: Path | str, expert_dirs: list[Path], config: ExpertConfig):
    """X-LoRA over the saved per-tier experts (one LoRA folder per entry of EXPERT_TIERS) on a fresh base model."""
    from peft import XLoraConfig, get_peft_model  # noqa: PLC0415

    if len(expert_dirs) != len(EXPERT_TIERS):
        raise ValueError(f"need {len(EXPERT_TIERS)} expert folders ({', '.join(t.value for t in EXPERT_TIERS)}), "
                         f"got {len(expert_dirs)}")
    base = load_base_model(base_model_path)
    xlora = XLoraConfig(task_type="CAUSAL_LM", hidden_size=base.config.get_text_config().hidden_size,
                        adapters={str(i): str(d) for i, d in enumerate(expert_dirs)}, layerwise_scalings=True,
                        xlora_depth=config.router_depth, xlora_size=config.router_hidden, xlora_dropout_p=0.0,
                        softmax_temperature=config.router_temperature,
                        use_trainable_adapters=config.trainable_experts)
    return get_peft_model(base, xlora)


def router(model) -> torch.nn.Module:
    """The X-LoRA classifier that gives the per-layer expert weights."""
    return model.base_model.internal_xlora_classifier


def mixture_state(model) -> dict[str, torch.Tensor]:
    """Every expert and router tensor of a mixture, by parameter name (copies on the CPU)."""
    return {name: p.detach().to("cpu", copy=True) for name, p in model.named_parameters()
            if ".lora_" in name or "internal_xlora_classifier" in name}


def weight_change(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor]) -> dict[str, float]:
    """L2 norm of what training moved, for the router and for the experts."""
    moved = {"router_change": 0.0, "expert_change": 0.0}
    for name, tensor in after.items():
        key = "router_change" if "internal_xlora_classifier" in name else "expert_change"
        moved[key] += float((tensor - before[name]).pow(2).sum())
    return {key: math.sqrt(value) for key, value in moved.items()}


def save_mixture(model, directory: Path, expert_dirs: list[Path], config: ExpertConfig) -> Path:
    """Write the mixture's expert + router tensors (safetensors), its expert folders and how to rebuild it."""
    partial = directory.with_name(directory.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    for tier, source in zip(EXPERT_TIERS, expert_dirs):
        shutil.copytree(source, partial / "experts" / tier.value)
    save_file({k: v.contiguous() for k, v in mixture_state(model).items()}, str(partial / MIXTURE_WEIGHTS))
    (partial / MIXTURE_CONFIG).write_text(json.dumps({"experts": [t.value for t in EXPERT_TIERS],
                                                      "expert_config": config.model_dump()}, indent=2))
    # swap in the new adapter only once it is complete: a crash while saving leaves the previous one intact
    previous = directory.with_name(directory.name + ".previous")
    shutil.rmtree(previous, ignore_errors=True)
    if directory.exists():
        directory.rename(previous)
    partial.rename(directory)
    shutil.rmtree(previous, ignore_errors=True)
    return directory


def load_mixture(base_model_path: Path | str, directory: Path):
    """Rebuild a saved mixture on the base model and load its expert + router tensors (every one must match)."""
    spec = json.loads((directory / MIXTURE_CONFIG).read_text())
    config = ExpertConfig(**spec["expert_config"])
    model = build_mixture(base_model_path, [directory / "experts" / name for name in spec["experts"]], config)
    tensors = load_file(str(directory / MIXTURE_WEIGHTS))
    expected = set(mixture_state(model))
    if set(tensors) != expected:
        raise ValueError(f"{directory / MIXTURE_WEIGHTS} does not match the rebuilt mixture: missing "
                         f"{sorted(expected - set(tensors))[:3]}, unexpected {sorted(set(tensors) - expected)[:3]}")
    model.load_state_dict(tensors, strict=False)
    return model.eval()


def reset_forward(model) -> None:
    """Undo the forward patches a previous trainer (and `expose_hidden_states`) put on the base model."""
    model.get_base_model().__dict__.pop("forward", None)


def expose_hidden_states(model) -> None:
    """Let the router's scaling pass see hidden states under TRL's fused LM head (call after building a trainer)."""
    base = model.get_base_model()
    fused = base.forward

    @functools.wraps(fused)
    def forward(*args, **kwargs):
        if kwargs.get("output_hidden_states"):
            for key in _FUSED_HEAD_ARGS:
                kwargs.pop(key, None)
            return type(base).forward(base, *args, **kwargs)
        return fused(*args, **kwargs)

    base.forward = forward


def routing_weights(model, inputs: dict) -> torch.Tensor:
    """Router weights per sample, [batch, experts]: the softmax weights averaged over its tokens and layers."""
    inputs = on_device(inputs, model)
    return _sample_weights(_router_scalings(model, inputs), inputs["attention_mask"])


def on_device(inputs: dict, model) -> dict:
    """Model inputs moved to the model's device."""
    return {k: v.to(model.device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}


def fit_router_to_tiers(model, batches: Iterable[tuple[dict, torch.Tensor]], steps: int, learning_rate: float
                        ) -> list[float]:
    """Warm-start the router as a tier classifier: cross-entropy of each sample's averaged weights against its
    tier's expert. Only the router trains here; later SFT/GRPO train it end to end. Returns the loss per step."""
    batches = list(batches)
    optimizer = torch.optim.AdamW(router(model).parameters(), lr=learning_rate)
    losses = []
    for step in range(steps):
        inputs, experts = batches[step % len(batches)]
        inputs = on_device(inputs, model)
        weights = _sample_weights(_router_scalings(model, inputs), inputs["attention_mask"])
        loss = torch.nn.functional.nll_loss(torch.log(weights.clamp_min(1e-8)), experts.to(weights.device))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def _router_scalings(model, inputs: dict) -> torch.Tensor:
    """[batch, seq, layers, experts] router weights: base pass without experts (no grad), then the router."""
    xlora = model.base_model
    xlora.disable_adapter_layers()
    try:
        with torch.no_grad():
            base_output = model.get_base_model()(**inputs, output_hidden_states=True, return_dict=True)
    finally:
        xlora.enable_adapter_layers()
    return router(model)(result=base_output, input_ids=inputs["input_ids"])


def _sample_weights(scalings: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    mask = attention_mask.to(scalings.dtype)[:, :, None]
    per_token = scalings.mean(dim=2)
    return (per_token * mask).sum(1) / mask.sum(1).clamp_min(1)
