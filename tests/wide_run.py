"""Curate generated scenes through the real pipeline (source read → fill → facts → QA, `pipeline.video.curate_video`),
or build their benchmark QA the way the benchmark split does (exact boxes → `facts.exact.exact_scene_facts` → QA),
and score every row against `tests.wide_truth`: per tier × task rows, numeric MRA, MC agreement, ambiguous rows
excluded, prompts off their referent, and the share of the most frequent correct option."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facts.exact import exact_scene_facts
from pipeline.video import curate_video
from qa_templates.generate import generate_scene_qa
from schemas.annotations import CAMERAS_FILE, SCENE_FILE, CameraTrack, SceneAnnotation
from schemas.config import CurateConfig
from schemas.paths import source_scene_id
from sources.registry import get_source
from sources.video_decode import sample_keyframes
from storage.layout import OutputLayout
from tests.wide_truth import SceneTruth, mc_truth, numeric_truth, prompt_referent_problems, wording_problems
from training.metrics import mean_relative_accuracy

RUN_ID = "wide-truth"


@dataclass
class Cell:
    """Scores of one tier × task."""

    rows: int = 0
    mra: list[float] = field(default_factory=list)
    mc_checked: int = 0
    mc_agree: int = 0
    ambiguous: int = 0
    prompt_off: int = 0
    wording_off: int = 0
    correct_options: Counter = field(default_factory=Counter)
    wrong: list[str] = field(default_factory=list)

    @property
    def mc_agreement(self) -> float | None:
        return self.mc_agree / self.mc_checked if self.mc_checked else None

    @property
    def mean_mra(self) -> float | None:
        return float(np.mean(self.mra)) if self.mra else None

    @property
    def largest_share(self) -> float | None:
        total = sum(self.correct_options.values())
        return max(self.correct_options.values()) / total if total else None


def curate(data_root: Path, output: Path) -> tuple[list[dict], list[str]]:
    """QA rows (as JSON-ready dicts) of every annotated scene under `data_root`, and the failures' messages."""
    config = CurateConfig(data_root=data_root, output_root=output, generate_default_data=False)
    layout = OutputLayout(output)
    rows, failures = [], []
    for item in get_source("annotated").discover(data_root):
        out = curate_video(item, config, layout, RUN_ID)
        failures += [f"{f.scene_id}: {f.stage}: {f.message}" for f in out.rows.get("failures", [])]
        rows += [row.model_dump(mode="json") for row in out.rows.get("qa", [])]
    return rows, failures


def benchmark_rows(data_root: Path, scene_ids: set[str] | None = None) -> list[dict]:
    """The benchmark split's QA of the annotated scenes under `data_root` (those of `scene_ids`; None: all): exact
    facts at curate's default keyframes (training/benchmark.py builds them the same way)."""
    config = CurateConfig(data_root=data_root, output_root=data_root, generate_default_data=False)
    rows = []
    for item in get_source("annotated").discover(data_root):
        if scene_ids is not None and item.scene_id not in scene_ids:
            continue
        scene = SceneAnnotation.model_validate_json((item.annotations_dir / SCENE_FILE).read_text())
        track = CameraTrack.model_validate_json((item.annotations_dir / CAMERAS_FILE).read_text())
        keyframes = sample_keyframes(len(track.frames), config.keyframe_stride, config.max_keyframes)
        facts = exact_scene_facts(scene, track, keyframes, f"benchmark-{item.scene_id}")
        rows += [row.model_dump(mode="json") for row in generate_scene_qa(facts, RUN_ID, config.seed).rows]
    return rows


def score(rows: list[dict], data_root: Path, output: Path) -> dict[tuple[str, str], Cell]:
    """Every row held against the exact truth of its scene."""
    truths: dict[str, SceneTruth] = {}
    cells: dict[tuple[str, str], Cell] = defaultdict(Cell)
    for row in rows:
        scene_id = row["scene_id"]
        truth = truths.get(scene_id) or truths.setdefault(
            scene_id, SceneTruth(data_root / source_scene_id(scene_id), scene_id))
        cell = cells[(row["scale"], row["task_type"])]
        cell.rows += 1
        where = f"{row['scene_id']} {row['question'][:160]!r}"
        problems = prompt_referent_problems(truth, row, output)
        if problems:
            cell.prompt_off += 1
            cell.wrong.append(f"{where}: prompt: {'; '.join(problems)}")
        wording = wording_problems(row)
        if wording:
            cell.wording_off += 1
            cell.wrong.append(f"{where}: wording: {'; '.join(wording)}")
        answer = row["answer"]
        if answer["kind"] == "multiple_choice":
            stored = answer["options"]["ABCDE".index(answer["correct_letter"])]
            cell.correct_options[stored] += 1
            verdict = mc_truth(truth, row, output)
            if verdict.ambiguous:
                cell.ambiguous += 1
                continue
            cell.mc_checked += 1
            if stored == verdict.expected:
                cell.mc_agree += 1
            else:
                cell.wrong.append(f"{where}: says {stored!r}, truth {verdict.expected!r}")
        else:
            verdict = numeric_truth(truth, row)
            if verdict.ambiguous:
                cell.ambiguous += 1
                continue
            cell.mra.append(mean_relative_accuracy(answer["value_si"], verdict.expected) if verdict.expected
                            else float(answer["value_si"] == 0))  # a true 0 (objects touching): exact or wrong
            if cell.mra[-1] < 0.9:
                cell.wrong.append(f"{where}: says {answer['value_si']:.4g}, truth {verdict.expected:.4g} "
                                  f"(MRA {cell.mra[-1]:.2f})")
    return dict(cells)


def tier_mra(cells: dict[tuple[str, str], Cell]) -> dict[str, float]:
    """Mean MRA over every numeric row of each tier."""
    by_tier: dict[str, list[float]] = defaultdict(list)
    for (tier, _), cell in cells.items():
        by_tier[tier] += cell.mra
    return {tier: float(np.mean(values)) for tier, values in by_tier.items() if values}


def table(cells: dict[tuple[str, str], Cell]) -> str:
    """One line per tier × task: rows, MRA or MC agreement (checked), ambiguous, prompts off, wording problems,
    largest answer share."""
    def fmt(value: float | None, spec: str = ".3f") -> str:
        return "-" if value is None else format(value, spec)

    lines = [f"{'tier':14s} {'task':22s} {'rows':>5s} {'MRA':>6s} {'MC agr':>7s} {'checked':>7s} {'ambig':>5s} "
             f"{'prompt':>6s} {'words':>5s} {'top ans':>7s}"]
    for (tier, task), cell in sorted(cells.items()):
        lines.append(f"{tier:14s} {task:22s} {cell.rows:5d} {fmt(cell.mean_mra):>6s} {fmt(cell.mc_agreement):>7s} "
                     f"{cell.mc_checked:7d} {cell.ambiguous:5d} {cell.prompt_off:6d} {cell.wording_off:5d} "
                     f"{fmt(cell.largest_share, '.0%'):>7s}")
    lines.append("numeric MRA per tier: " + ", ".join(f"{t} {v:.3f}" for t, v in sorted(tier_mra(cells).items())))
    return "\n".join(lines)
