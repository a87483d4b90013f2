"""`train`: curated QA → per-tier LoRA experts, a learned router (X-LoRA), SFT then GRPO; adapter + logs saved."""

from __future__ import annotations

from pathlib import Path

from runtime.offline import quiet_environment

quiet_environment()

from prefect import flow, get_run_logger, task  # noqa: E402
from prefect.artifacts import create_table_artifact  # noqa: E402
from prefect.cache_policies import NO_CACHE  # noqa: E402

from schemas.training import TrainConfig, TrainReport  # noqa: E402
from training import trainer  # noqa: E402
from training.experts import check_base_model  # noqa: E402

REPORTED = ("loss", "reward", "rewards/progressive_reward/mean", "rewards/format_reward/mean", "router_change",
            "expert_change")


@task(cache_policy=NO_CACHE)
def load_training_samples(config: TrainConfig) -> trainer.SampleSet:
    samples = trainer.load_samples(config)
    logger = get_run_logger()
    logger.info("training samples per tier: %s; %d skipped", samples.per_tier(), len(samples.skipped))
    for skipped in samples.skipped:
        logger.warning("skipped QA %s: %s", skipped.qa_id, skipped.reason)
    return samples


@task(cache_policy=NO_CACHE)
def train_tier_experts(config: TrainConfig, samples: trainer.SampleSet, log: trainer.TrainingLog) -> list[Path]:
    return trainer.train_experts(config, samples, log)


@task(cache_policy=NO_CACHE)
def train_router_and_experts(config: TrainConfig, samples: trainer.SampleSet, expert_dirs: list[Path],
                             log: trainer.TrainingLog):
    return trainer.train_mixture(config, samples, expert_dirs, log)


@task(cache_policy=NO_CACHE)
def reinforce_with_progressive_rewards(config: TrainConfig, samples: trainer.SampleSet, model,
                                       log: trainer.TrainingLog):
    return trainer.reinforce(config, samples, model, log)


@task(cache_policy=NO_CACHE)
def save_adapter(config: TrainConfig, model, expert_dirs: list[Path], log: trainer.TrainingLog) -> Path:
    return trainer.save_adapter(config, model, expert_dirs, log)


@task(cache_policy=NO_CACHE)
def publish_training_log(log: trainer.TrainingLog) -> dict[str, dict[str, float]]:
    """The last loss / reward / weight change of every stage, in the flow log and as a Prefect table artifact."""
    final = {stage: {key: value for key in REPORTED if (value := log.last(stage, key)) is not None}
             for stage in dict.fromkeys(r["stage"] for r in log.records)}
    logger = get_run_logger()
    for stage, values in final.items():
        logger.info("%s: %s", stage, ", ".join(f"{k} {v:.4g}" for k, v in values.items()))
    create_table_artifact(key="train-summary", table=[{"stage": stage, **values} for stage, values in final.items()],
                          description="last logged values per training stage")
    return final


@flow(name="train")
def train(config: TrainConfig) -> TrainReport:
    """Load a scale-balanced QA slice, train tier experts, router + experts (SFT), GRPO; save adapter and log."""
    check_base_model(config.base_model)
    log = trainer.TrainingLog()
    samples = load_training_samples(config)
    expert_dirs = train_tier_experts(config, samples, log)
    model = train_router_and_experts(config, samples, expert_dirs, log)
    model = reinforce_with_progressive_rewards(config, samples, model, log)
    adapter_dir = save_adapter(config, model, expert_dirs, log)
    final = publish_training_log(log)
    return TrainReport(adapter_dir=adapter_dir, log_path=config.log_path, samples_per_tier=samples.per_tier(),
                       skipped=samples.skipped, final=final)
