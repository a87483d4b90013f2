"""Training: the tiny Qwen2-VL fixture, sample building, and end to end on CPU over real curated data — per-tier LoRA
experts, the X-LoRA router, SFT then GRPO with the progressive reward, save and reload."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch

from schemas.tiers import ScaleTier
from schemas.training import TrainConfig, TrainReport
from storage.catalog import query
from storage.layout import OutputLayout
from tests.flow_runner import run_flow
from tests.tiny_vlm import build_tiny_qwen2vl
from training import experts as ex
from training import trainer as tr

HUB_ID = "Qwen/Qwen2.5-VL-7B-Instruct"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    return build_tiny_qwen2vl(tmp_path_factory.mktemp("tiny-vlm") / "model")


def test_tiny_vlm_loads_offline_from_its_directory(tiny_model):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(tiny_model)
    processor = AutoProcessor.from_pretrained(tiny_model)
    assert sum(p.numel() for p in model.parameters()) < 300_000
    assert model.config.image_token_id == processor.tokenizer.convert_tokens_to_ids("<|image_pad|>")
    assert processor.tokenizer.eos_token == "<|im_end|>"
    text = "<answer>2.5 m</answer>"
    assert processor.tokenizer.decode(processor.tokenizer(text).input_ids) == text


def test_a_hub_id_as_base_model_is_refused_by_name(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"base model '{HUB_ID}' is not a local directory"):
        ex.check_base_model(HUB_ID)
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="has no config.json"):
        ex.check_base_model(tmp_path / "empty")


def test_drone_is_folded_into_the_outdoor_expert():
    assert [ex.expert_index(t) for t in ScaleTier] == [0, 1, 2, 3, 3]
    assert ex.expert_tiers(3) == [ScaleTier.OUTDOOR, ScaleTier.DRONE]


def test_shown_frames_keep_the_named_frames_and_spread_the_rest():
    assert tr.frames_to_show(12, [], 4) == [1, 4, 7, 10]
    assert tr.frames_to_show(12, [10, 3], 3) == [1, 3, 10]
    assert tr.frames_to_show(12, [2, 6, 8], 2) == [2, 6, 8]  # every named frame, even beyond the budget
    assert tr.frames_to_show(2, [], 4) == [1, 2]


def test_reference_scale_and_semantics():
    assert tr.scale_statement(ScaleTier.TINY_TABLETOP, 0.5834) == "the scene spans about 580 mm"
    assert tr.scale_statement(ScaleTier.INDOOR, 6.196) == "the scene spans about 6.2 m"
    categories = {"s/1": "sofa", "s/2": "box", "s/3": "box"}
    assert tr.semantic_reference(ScaleTier.INDOOR, ["s/2", "s/1"], categories) == "an indoor scene with box and sofa"
    assert tr.semantic_reference(ScaleTier.INDOOR, [], categories) == "an indoor scene with box and sofa"
    assert tr.semantic_reference(ScaleTier.DRONE, [], {}) == "an aerial drone-view scene"


def test_train_deployment_runs_on_fresh_qa_only_with_a_base_model_named():
    import yaml
    from prefect.events.schemas.deployment_triggers import DeploymentTriggerTypes
    from pydantic import TypeAdapter

    spec = yaml.safe_load((Path(__file__).resolve().parents[1] / "prefect.yaml").read_text())
    deployments = {d["name"]: d for d in spec["deployments"]}
    assert "curate-nightly" in deployments
    train = deployments["train"]
    assert train["entrypoint"] == "flows/train.py:train"
    TrainConfig.model_validate(train["parameters"]["config"])
    (trigger,) = TypeAdapter(list[DeploymentTriggerTypes]).validate_python(train["triggers"])
    assert trigger.expect == {"spacevista.qa.curated"}  # emitted by curate's announce_qa after a run with QA
    assert trigger.match.root == {"spacevista.base-model": "*"}  # a label present only while a base model is set
    assert trigger.parameters["config"]["base_model"] == "{{ event.payload.base_model }}"


# --- end to end on real curated data --------------------------------------------------------------------------------

def tiny_config(base_model, output_root, train_dir, **overrides) -> TrainConfig:
    settings = {"samples_per_tier": 3, "frames_per_sample": 2, "expert_sft_steps": 2, "router_warmup_steps": 60,
                "sft_steps": 3, "grpo_steps": 2, "batch_size": 3, "num_generations": 2, "max_completion_length": 12,
                "learning_rate": 1e-2, "router_learning_rate": 5e-2, **overrides}
    return TrainConfig(base_model=base_model, output_root=output_root, train_dir=train_dir, **settings)


@pytest.fixture(scope="module")
def trained(default_run, tiny_model, tmp_path_factory):
    """Every stage run once, in order, keeping the trained model in memory."""
    config = tiny_config(tiny_model, default_run.output, tmp_path_factory.mktemp("train"))
    log = tr.TrainingLog()
    samples = tr.load_samples(config)
    expert_dirs = tr.train_experts(config, samples, log)
    model = tr.train_mixture(config, samples, expert_dirs, log)
    model = tr.reinforce(config, samples, model, log)
    adapter = tr.save_adapter(config, model, expert_dirs, log)
    return config, samples, log, model.eval(), adapter


@pytest.mark.e2e
def test_samples_are_scale_balanced_real_qa(trained):
    config, samples, *_ = trained
    per_tier = samples.per_tier()
    assert set(per_tier) == {t.value for t in ScaleTier}
    assert all(n <= config.samples_per_tier for n in per_tier.values())
    sample = samples.samples[0]
    assert sample.images and all(image.mode == "RGB" for image in sample.images)
    assert sample.target.startswith("<semantic>") and "<scale>the scene spans about" in sample.target
    assert sample.target.rstrip().endswith("</answer>")
    assert sum(part["type"] == "image" for part in sample.prompt[0]["content"]) == len(sample.images)


@pytest.mark.e2e
def test_a_qa_whose_frame_is_missing_is_skipped_with_its_reason(default_run, tiny_model, tmp_path):
    output = tmp_path / "output"
    shutil.copytree(default_run.output, output)
    config = tiny_config(tiny_model, output, tmp_path / "train", samples_per_tier=4)
    complete = tr.load_samples(config)
    victim = next(s for s in complete.samples if s.tier == ScaleTier.INDOOR)
    frame = query(OutputLayout(output), "SELECT frame_paths[1] AS f FROM qa WHERE qa_id = ?", [victim.qa_id])
    missing = frame.column("f")[0].as_py()
    (output / missing).unlink()
    damaged = tr.load_samples(config)
    assert victim.qa_id in {s.qa_id for s in damaged.skipped}
    assert all(missing in s.reason for s in damaged.skipped)  # each names the file it lacks
    assert len(damaged.samples) + len(damaged.skipped) == len(complete.samples)
    others = {tier: n for tier, n in complete.per_tier().items() if tier != victim.tier.value}
    assert {tier: n for tier, n in damaged.per_tier().items() if tier != victim.tier.value} == others  # rest goes on


@pytest.mark.e2e
def test_every_stage_logs_finite_losses_and_rewards(trained):
    config, _, log, *_ = trained
    stages = {r["stage"] for r in log.records}
    assert {f"expert:{t.value}" for t in ex.EXPERT_TIERS} | {"router", "sft", "grpo"} <= stages
    for stage in stages:
        losses = [r["loss"] for r in log.records if r["stage"] == stage and "loss" in r]
        assert losses and all(math.isfinite(v) for v in losses), stage
    grpo = [r for r in log.records if r["stage"] == "grpo" and "reward" in r]
    assert len(grpo) == config.grpo_steps
    for key in ("reward", "rewards/progressive_reward/mean", "rewards/format_reward/mean"):
        assert all(math.isfinite(r[key]) and r[key] >= 0 for r in grpo), key
    router_losses = [r["loss"] for r in log.records if r["stage"] == "router" and "loss" in r]
    assert len(router_losses) == config.router_warmup_steps and router_losses[-1] < router_losses[0]
    written = [json.loads(line) for line in config.log_path.read_text().splitlines()]
    assert written == log.records


@pytest.mark.e2e
def test_router_and_experts_are_trained(trained):
    *_, log, _, _ = trained
    moved = {r["stage"]: r for r in log.records if "router_change" in r}
    assert moved["router"]["router_change"] > 0 and moved["router"]["expert_change"] == 0  # warm-up: router only
    # SFT through TRL's fused LM head reaches both the router (X-LoRA scaling pass) and the experts
    assert moved["sft"]["router_change"] > 0 and moved["sft"]["expert_change"] > 0
    assert math.isfinite(moved["grpo"]["router_change"]) and math.isfinite(moved["grpo"]["expert_change"])


@pytest.mark.e2e
def test_samples_of_each_tier_select_their_tier_expert(trained):
    config, samples, _, model, _ = trained
    inputs = tr.encode_prompts(tr.load_processor(config.base_model), samples.samples)
    with torch.no_grad():
        weights = ex.routing_weights(model, inputs)
    assert torch.allclose(weights.sum(1), torch.ones(len(weights)), atol=1e-5)
    chosen = weights.argmax(1).tolist()
    expected = [ex.expert_index(s.tier) for s in samples.samples]
    hits = sum(c == e for c, e in zip(chosen, expected))
    assert hits >= 0.75 * len(expected), list(zip(chosen, expected))
    for index in range(len(ex.EXPERT_TIERS)):  # on average over its samples, each expert's tiers pick it
        mine = weights[[e == index for e in expected]]
        assert int(mine.mean(0).argmax()) == index, (index, mine.mean(0))


@pytest.mark.e2e
def test_the_saved_adapter_reloads_to_identical_logits(trained):
    config, samples, _, model, adapter = trained
    assert (adapter / ex.MIXTURE_WEIGHTS).is_file()
    assert sorted(p.name for p in (adapter / "experts").iterdir()) == sorted(t.value for t in ex.EXPERT_TIERS)
    reloaded = ex.load_mixture(config.base_model, adapter).to(model.device)
    inputs = ex.on_device(tr.encode_prompts(tr.load_processor(config.base_model), samples.samples[:4]), model)
    with torch.no_grad():
        assert torch.equal(model(**inputs).logits, reloaded(**inputs).logits)
        assert torch.equal(ex.routing_weights(model, inputs), ex.routing_weights(reloaded, inputs))


@pytest.mark.e2e
def test_train_flow_runs_as_a_deployment_would(default_run, tiny_model, tmp_path):
    config = tiny_config(tiny_model, default_run.output, tmp_path / "flow", samples_per_tier=1, expert_sft_steps=1,
                         router_warmup_steps=1, sft_steps=1, grpo_steps=1, max_completion_length=4)
    report = run_flow("flows.train", "train", config, TrainReport, tmp_path)
    assert report.adapter_dir == config.adapter_dir and (report.adapter_dir / ex.MIXTURE_WEIGHTS).is_file()
    assert report.log_path.is_file() and sum(report.samples_per_tier.values()) >= 4
    assert {"router", "sft", "grpo"} <= set(report.final)
    assert math.isfinite(report.final["grpo"]["reward"]) and math.isfinite(report.final["sft"]["loss"])


def test_train_flow_refuses_a_hub_id_before_loading_anything(tmp_path):
    from flows.train import train

    config = TrainConfig(base_model=HUB_ID, output_root=tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match=f"base model '{HUB_ID}' is not a local directory"):
        train.fn(config)
