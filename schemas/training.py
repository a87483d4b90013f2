"""The training run's configuration: typed, frozen, validated at the boundary (CLI, Prefect UI, deployments)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExpertConfig(_Frozen):
    """Per-tier LoRA experts and the router that mixes them (PEFT X-LoRA)."""

    lora_rank: int = Field(default=8, ge=1, le=256)
    lora_alpha: float = Field(default=16.0, gt=0)
    target_modules: str = Field(default=r".*language_model.*\.(q_proj|k_proj|v_proj|o_proj)",
                                description="regex over module names: the text decoder's attention projections")
    router_depth: int = Field(default=1, ge=1, le=4, description="layers of the router MLP")
    router_hidden: int = Field(default=256, ge=8, description="router MLP width (depth > 1 only)")
    router_temperature: float = Field(default=1.0, gt=0)
    trainable_experts: bool = Field(default=True, description="keep training the experts together with the router")


class TrainConfig(_Frozen):
    """A training run: where the base model and the curated data are, what to train and for how long."""

    base_model: Path = Field(description="LOCAL directory of a saved vision-language model; hub ids are refused")
    output_root: Path = Field(description="a curated output root: QA rows come from its `qa` table")
    train_dir: Path | None = Field(default=None, description="adapter and logs; default <output_root>/training")
    samples_per_tier: int = Field(default=64, ge=1, description="scale-balanced slice: up to this many per tier")
    frames_per_sample: int = Field(default=4, ge=1, le=64, description="keyframes per prompt (prompted ones first)")
    seed: int = 0
    experts: ExpertConfig = ExpertConfig()
    expert_sft_steps: int = Field(default=50, ge=0, description="SFT steps per tier expert")
    router_warmup_steps: int = Field(default=50, ge=0, description="router steps as a tier classifier")
    sft_steps: int = Field(default=100, ge=0, description="SFT steps of router and experts together")
    grpo_steps: int = Field(default=50, ge=0)
    batch_size: int = Field(default=4, ge=1)
    num_generations: int = Field(default=8, ge=2, description="GRPO group size (paper: 8)")
    max_completion_length: int = Field(default=256, ge=4)
    learning_rate: float = Field(default=1e-4, gt=0)
    router_learning_rate: float = Field(default=1e-3, gt=0)
    reward_weights: tuple[float, float] = Field(default=(1.0, 1.0), description="progressive, format")

    @property
    def resolved_train_dir(self) -> Path:
        return self.train_dir if self.train_dir is not None else self.output_root / "training"

    @property
    def adapter_dir(self) -> Path:
        return self.resolved_train_dir / "adapter"

    @property
    def log_path(self) -> Path:
        return self.resolved_train_dir / "train_log.jsonl"


class SkippedSample(_Frozen):
    """A QA row that could not become a training sample, with the reason (the rest of the run goes on)."""

    qa_id: str
    reason: str


class TrainReport(_Frozen):
    """What a training run produced: where the adapter and log are, what it trained on, its last logged values."""

    adapter_dir: Path
    log_path: Path
    samples_per_tier: dict[str, int]
    skipped: list[SkippedSample]
    final: dict[str, dict[str, float]] = Field(description="last loss / reward / weight change per stage")
