"""Train scale-aware experts on curated QA: per-tier LoRA SFT, a tier-aware router (X-LoRA), then GRPO.

Stages, in order (flows/train.py runs each as a Prefect task):
1. `load_samples`: a scale-balanced slice of the `qa` table (up to `samples_per_tier` per tier, paper Tab. C16),
   each with a few keyframes (PIL; visual prompts drawn by training.prompts, as evaluation shows them) and the
   grounding the rewards need.
2. `train_experts`: one LoRA expert per entry of EXPERT_TIERS, SFT (trl SFTTrainer) on its tiers' samples.
3. `train_mixture`: X-LoRA over the experts; the router is warm-started as a tier classifier, then router and
   experts are trained end to end with SFT on every sample.
4. `reinforce`: GRPO (trl GRPOTrainer) with the progressive reward plus the format reward.
5. `save_adapter`: experts + router tensors under `<train_dir>/adapter`, the loss/reward log as JSON lines.

Prompt = the question (with one "Frame k:" label per image, k the frame's 1-based rank in the QA, as the question
counts them) and an instruction to answer in the tagged form. SFT target = `<semantic>` reference, `<scale>` scene
extent, then the curated response (rationale + `<answer>`), so that SFT teaches the format GRPO rewards.
"""

from __future__ import annotations

import io
import json
import math
import random
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import torch
from PIL import Image
from pydantic import ValidationError

from schemas.arrow import from_record
from schemas.qa import QARow
from schemas.tiers import TIER_SPECS, UNIT_PER_METRE, ScaleTier
from schemas.training import SkippedSample, TrainConfig
from storage.catalog import query
from storage.manifests import manifest_versions
from storage.layout import OutputLayout
from training import experts as ex
from training.prompts import SampleError, qa_prompt
from training.rewards import GROUNDING_COLUMNS, answer_columns, format_reward, progressive_reward

INSTRUCTION = ("Describe the relevant objects and the scene in <semantic></semantic>, state the size of the scene "
               "in <scale></scale>, reason step by step, then give the final answer in <answer></answer>.")
_TIER_PHRASE = {ScaleTier.TINY_TABLETOP: "a tiny tabletop scene", ScaleTier.TABLETOP: "a tabletop scene",
                ScaleTier.INDOOR: "an indoor scene", ScaleTier.OUTDOOR: "an outdoor scene",
                ScaleTier.DRONE: "an aerial drone-view scene"}


@dataclass(frozen=True)
class TrainingSample:
    """One QA as a training example: chat prompt, images, SFT target, reward grounding."""

    qa_id: str
    tier: ScaleTier
    prompt: list[dict]
    images: list[Image.Image]
    target: str
    grounding: dict


@dataclass
class SampleSet:
    samples: list[TrainingSample]
    skipped: list[SkippedSample]

    def per_tier(self) -> dict[str, int]:
        return dict(Counter(s.tier.value for s in self.samples))


@dataclass
class TrainingLog:
    """Loss / reward values per stage and step, as logged by the trainers (also written as JSON lines)."""

    records: list[dict] = field(default_factory=list)

    def add(self, stage: str, step: int, values: dict) -> None:
        numbers = {k: float(v) for k, v in values.items() if isinstance(v, int | float) and not isinstance(v, bool)}
        self.records.append({"stage": stage, "step": step, **numbers})

    def callback(self, stage: str):
        from transformers import TrainerCallback  # noqa: PLC0415

        log = self

        class _Recorder(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):
                log.add(stage, state.global_step, logs or {})

        return _Recorder()

    def last(self, stage: str, key: str) -> float | None:
        values = [r[key] for r in self.records if r["stage"] == stage and key in r]
        return values[-1] if values else None

    def write(self, path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in self.records))
        return path


# --- 1. samples ---------------------------------------------------------------------------------------------------

# Each tier's draw follows the seed and the rows' content (the video's hash, the task, the question), not the qa_id,
# which holds the data root's tag: the same data curated under another root trains on the same samples.

_ROWS_SQL = """
SELECT * EXCLUDE (pick) FROM (
    SELECT q.*, s.extent_m,
           row_number() OVER (PARTITION BY q.scale ORDER BY md5(q.video_id || q.task_type || q.question || ?), q.qa_id)
               AS pick
    FROM qa q LEFT JOIN (SELECT scene_id, any_value(extent_m) AS extent_m FROM scenes GROUP BY scene_id) s
         USING (scene_id))
WHERE pick <= ? ORDER BY scale, pick
"""


def load_samples(config: TrainConfig) -> SampleSet:
    """A scale-balanced slice of curated QA; a row that cannot become a sample is skipped with its reason."""
    layout = OutputLayout(config.output_root)
    if not manifest_versions(layout, "qa"):
        raise FileNotFoundError(f"{config.output_root} has no published `qa` table: run `spacevista curate` first")
    records = query(layout, _ROWS_SQL, [str(config.seed), config.samples_per_tier]).to_pylist()
    if not records:
        raise ValueError(f"the `qa` table under {config.output_root} is empty: nothing to train on")
    categories = _categories(layout, sorted({r["scene_id"] for r in records}))
    samples, skipped = [], []
    for record in records:
        extent_m = record.pop("extent_m")
        try:
            samples.append(_sample(from_record(record, QARow), extent_m, categories, layout, config.frames_per_sample))
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(map(str, first["loc"])) or "row"
            skipped.append(SkippedSample(qa_id=record["qa_id"], reason=f"not a valid QARow: {first['msg']} ({where})"))
        except (SampleError, ValueError, OSError) as err:
            skipped.append(SkippedSample(qa_id=record["qa_id"], reason=f"{type(err).__name__}: {err}"))
    if not samples:
        raise ValueError(f"no usable QA under {config.output_root}; first reasons: "
                         + "; ".join(s.reason for s in skipped[:3]))
    return SampleSet(samples, skipped)


def _categories(layout: OutputLayout, scene_ids: list[str]) -> dict[str, dict[str, str]]:
    table = query(layout, "SELECT scene_id, object_id, category FROM objects WHERE list_contains(?, scene_id) "
                          "ORDER BY scene_id, object_id", [scene_ids])
    by_scene: dict[str, dict[str, str]] = {}
    for row in table.to_pylist():
        by_scene.setdefault(row["scene_id"], {})[row["object_id"]] = row["category"]
    return by_scene


def _sample(row: QARow, extent_m: float | None, categories: dict[str, dict[str, str]], layout: OutputLayout,
            n_frames: int) -> TrainingSample:
    if extent_m is None or not extent_m > 0:
        raise ValueError(f"scene {row.scene_id} has no extent in the `scenes` table")
    shown = qa_prompt(row, layout, instruction=INSTRUCTION)
    frames = frames_to_show(len(row.frame_paths), row.named_frames, n_frames)
    content = [part for frame in frames
               for part in ({"type": "text", "text": f"Frame {frame}:"}, {"type": "image"})]
    content.append({"type": "text", "text": shown.text})
    images = [Image.open(io.BytesIO(shown.frames_jpeg[frame - 1])).convert("RGB") for frame in frames]
    semantic = semantic_reference(row.scale, row.object_ids, categories.get(row.scene_id, {}))
    target = f"<semantic>{semantic}</semantic>\n<scale>{scale_statement(row.scale, extent_m)}</scale>\n{row.response}"
    grounding = {**answer_columns(row.answer), "scale_m": float(extent_m), "semantic": semantic}
    return TrainingSample(row.qa_id, row.scale, [{"role": "user", "content": content}], images, target, grounding)


def frames_to_show(n_available: int, named: list[int], n_frames: int) -> list[int]:
    """Which frames a prompt shows, by frame number (from 1, as the question numbers them): every frame the question
    names (QARow.named_frames), then evenly spaced others up to `n_frames` in all, in time order."""
    marked = sorted(set(named))
    others = [k for k in range(1, n_available + 1) if k not in marked]
    spare = min(max(0, n_frames - len(marked)), len(others))
    return sorted(marked + [others[int(k * len(others) / spare)] for k in range(spare)])


def semantic_reference(tier: ScaleTier, object_ids: list[str], scene_categories: dict[str, str]) -> str:
    """The reference `<semantic>`: the tier's kind of scene and the categories the QA is about (else the scene's)."""
    named = [scene_categories[o] for o in object_ids if o in scene_categories]
    if not named:
        named = [c for c, _ in Counter(scene_categories.values()).most_common(3)]
    unique = list(dict.fromkeys(named))
    if not unique:
        return _TIER_PHRASE[tier]
    listed = unique[0] if len(unique) == 1 else ", ".join(unique[:-1]) + " and " + unique[-1]
    return f"{_TIER_PHRASE[tier]} with {listed}"


def scale_statement(tier: ScaleTier, extent_m: float) -> str:
    """The reference `<scale>`: the scene extent in the tier's length unit, two significant digits."""
    unit = TIER_SPECS[tier].length_unit
    value = extent_m * UNIT_PER_METRE[unit]
    rounded = round(value, 1 - math.floor(math.log10(value)))
    return f"the scene spans about {rounded:g} {unit.value}"


# --- datasets -----------------------------------------------------------------------------------------------------

def sft_dataset(samples: list[TrainingSample]):
    from datasets import Dataset  # noqa: PLC0415

    return Dataset.from_list([{"prompt": s.prompt, "images": s.images,
                               "completion": [{"role": "assistant", "content": [{"type": "text", "text": s.target}]}]}
                              for s in samples])


def grpo_dataset(samples: list[TrainingSample]):
    from datasets import Dataset  # noqa: PLC0415

    return Dataset.from_list([{"prompt": s.prompt, "images": s.images, "tier": s.tier.value,
                               **{c: s.grounding[c] for c in GROUNDING_COLUMNS}} for s in samples])


def encode_prompts(processor, samples: list[TrainingSample]) -> dict:
    """Model inputs for the samples' prompts (chat template + images), padded into one batch."""
    texts = [processor.apply_chat_template(s.prompt, add_generation_prompt=True) for s in samples]
    return dict(processor(text=texts, images=[s.images for s in samples], padding=True, return_tensors="pt"))


def load_processor(base_model: Path):
    from transformers import AutoProcessor  # noqa: PLC0415

    return AutoProcessor.from_pretrained(ex.check_base_model(base_model))


# --- 2. experts ---------------------------------------------------------------------------------------------------

def train_experts(config: TrainConfig, sample_set: SampleSet, log: TrainingLog) -> list[Path]:
    """One LoRA per expert, SFT on its tiers' samples; returns the saved expert folders in EXPERT_TIERS order."""
    from peft import get_peft_model  # noqa: PLC0415
    from trl import SFTTrainer  # noqa: PLC0415

    processor = load_processor(config.base_model)
    folders = []
    for index, tier in enumerate(ex.EXPERT_TIERS):
        folder = config.resolved_train_dir / "experts" / tier.value
        mine = [s for s in sample_set.samples if ex.expert_index(s.tier) == index]
        torch.manual_seed(config.seed + index)
        model = get_peft_model(ex.load_base_model(config.base_model), ex.lora_config(config.experts))
        if mine and config.expert_sft_steps:
            with tempfile.TemporaryDirectory() as scratch:
                trainer = SFTTrainer(model=model, train_dataset=sft_dataset(mine), processing_class=processor,
                                     args=_sft_args(config, scratch, config.expert_sft_steps, config.learning_rate),
                                     callbacks=[log.callback(f"expert:{tier.value}")])
                trainer.train()
        ex.reset_forward(model)
        model.save_pretrained(folder)
        folders.append(folder)
    return folders


# --- 3. router + experts ------------------------------------------------------------------------------------------

def train_mixture(config: TrainConfig, sample_set: SampleSet, expert_dirs: list[Path], log: TrainingLog):
    """X-LoRA over the experts: router warm-started as a tier classifier, then SFT of router and experts."""
    from trl import SFTTrainer  # noqa: PLC0415

    torch.manual_seed(config.seed)
    model = ex.build_mixture(config.base_model, expert_dirs, config.experts).to(_device())
    processor = load_processor(config.base_model)
    if config.router_warmup_steps:
        before = ex.mixture_state(model)
        losses = ex.fit_router_to_tiers(model, _tier_batches(processor, sample_set.samples, config),
                                        config.router_warmup_steps, config.router_learning_rate)
        for step, loss in enumerate(losses, start=1):
            log.add("router", step, {"loss": loss})
        log.add("router", config.router_warmup_steps, ex.weight_change(before, ex.mixture_state(model)))
    if config.sft_steps:
        before = ex.mixture_state(model)
        with tempfile.TemporaryDirectory() as scratch:
            trainer = SFTTrainer(model=model, train_dataset=sft_dataset(sample_set.samples),
                                 processing_class=processor,
                                 args=_sft_args(config, scratch, config.sft_steps, config.learning_rate),
                                 callbacks=[log.callback("sft")])
            ex.expose_hidden_states(model)
            trainer.train()
        ex.reset_forward(model)
        log.add("sft", config.sft_steps, ex.weight_change(before, ex.mixture_state(model)))
    return model


def _tier_batches(processor, samples: list[TrainingSample], config: TrainConfig):
    order = samples[:]
    random.Random(config.seed).shuffle(order)
    for start in range(0, len(order), config.batch_size):
        batch = order[start:start + config.batch_size]
        yield encode_prompts(processor, batch), torch.tensor([ex.expert_index(s.tier) for s in batch])


# --- 4. GRPO ------------------------------------------------------------------------------------------------------

def reinforce(config: TrainConfig, sample_set: SampleSet, model, log: TrainingLog):
    """GRPO on the mixture with [progressive_reward, format_reward] (weights `reward_weights`): one prompt per step,
    `num_generations` completions of it scored against each other."""
    from trl import GRPOConfig, GRPOTrainer  # noqa: PLC0415

    if not config.grpo_steps:
        return model
    before = ex.mixture_state(model)
    with tempfile.TemporaryDirectory() as scratch:
        args = GRPOConfig(output_dir=scratch, max_steps=config.grpo_steps,
                          per_device_train_batch_size=config.num_generations, num_generations=config.num_generations,
                          max_completion_length=config.max_completion_length, learning_rate=config.learning_rate,
                          beta=0.0, reward_weights=list(config.reward_weights), seed=config.seed,
                          **_common_args())
        trainer = GRPOTrainer(model=model, args=args, train_dataset=grpo_dataset(sample_set.samples),
                              processing_class=load_processor(config.base_model),
                              reward_funcs=[progressive_reward, format_reward], callbacks=[log.callback("grpo")])
        ex.expose_hidden_states(model)
        trainer.train()
    ex.reset_forward(model)
    log.add("grpo", config.grpo_steps, ex.weight_change(before, ex.mixture_state(model)))
    return model


# --- 5. save ------------------------------------------------------------------------------------------------------

def save_adapter(config: TrainConfig, model, expert_dirs: list[Path], log: TrainingLog) -> Path:
    """The trained mixture (experts + router) under `adapter_dir`, the log beside it."""
    ex.reset_forward(model)
    ex.save_mixture(model, config.adapter_dir, expert_dirs, config.experts)
    log.write(config.log_path)
    return config.adapter_dir


def _device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def _common_args() -> dict:
    """Trainer settings every stage shares: fp32 on any device, no checkpointing (X-LoRA), no reports/checkpoints."""
    return {"bf16": False, "fp16": False, "gradient_checkpointing": False, "activation_checkpointing": False,
            "report_to": [], "logging_steps": 1, "save_strategy": "no", "disable_tqdm": True,
            "dataloader_num_workers": 0, "dataloader_pin_memory": torch.cuda.is_available()}


def _sft_args(config: TrainConfig, output_dir: str, steps: int, learning_rate: float):
    from trl import SFTConfig  # noqa: PLC0415

    return SFTConfig(output_dir=output_dir, max_steps=steps, per_device_train_batch_size=config.batch_size,
                     learning_rate=learning_rate, max_length=None, seed=config.seed, **_common_args())
