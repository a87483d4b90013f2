"""Every registered dataset source on its fixture: what it provides natively and what it lacks (specialists fill
that where the profile has them; none run here, so a non-metric source keeps only pose-only tasks), the tiers it
gave, QA per tier × task, numeric MRA and multiple-choice agreement against the generator's truth, and seconds per
video (in process, one core); and a WildRGB-D millimetre-tier scene, which its millimetre depth cannot size.

    .venv/bin/python -m benchmarks.source_fixtures
"""

from __future__ import annotations

import tempfile
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from pipeline.fill import needs
from runtime.offline import quiet_environment
from schemas.tiers import ScaleTier
from sources.contract import Modality
from sources.registry import get_source
from tests.datasets.truth import curate_fixtures, scored
from tests.datasets.wildrgbd_writer import write_wildrgbd
from tests.ground_truth import NUMERIC_TASKS


def main() -> None:
    quiet_environment()
    with tempfile.TemporaryDirectory(prefix="spacevista-sources-") as workdir:
        results = curate_fixtures(Path(workdir))
        lacking = {dataset: sorted({m.value for s in result.truth.values() for m in _lacks(get_source(dataset), s)})
                   for dataset, result in results.items()}
    print(f"{'source':12s} {'native':52s} {'lacks':24s} {'tiers':22s} {'QA':>5s} {'MRA':>6s} {'MC':>9s} "
          f"{'s/video':>8s}")
    for dataset, result in results.items():
        source = get_source(dataset)
        native = ",".join(m.value for m in Modality if m in source.native)
        tiers = sorted({row["scale"] for row in result.rows["scenes"]})
        checks = list(scored(result))
        mra = [s for _, task, s, _ in checks if task in NUMERIC_TASKS]
        mc = [s for _, task, s, _ in checks if task not in NUMERIC_TASKS]
        print(f"{dataset:12s} {native:52s} {','.join(lacking[dataset]) or '-':24s} {','.join(tiers):22s} "
              f"{len(result.rows['qa']):5d} {np.mean(mra) if mra else float('nan'):6.3f} "
              f"{sum(mc):4.0f}/{len(mc):<4d} {np.mean(result.seconds):8.2f}")
    print("\nQA per tier × task, then the quality-gate drops by reason")
    for dataset, result in results.items():
        counts = Counter((row["scale"], row["task_type"]) for row in result.rows["qa"])
        per_tier = defaultdict(list)
        for (tier, task), n in sorted(counts.items()):
            per_tier[tier].append(f"{task} {n}")
        for tier, cells in per_tier.items():
            print(f"  {dataset:12s} {tier:14s} " + ", ".join(cells))
        gated = Counter(reason for (_, reason), n in result.drops.items() for _ in range(n))
        print(f"  {dataset:12s} {'drops':14s} " + ", ".join(f"{r} {n}" for r, n in sorted(gated.items())))
    millimetre_tier()


def millimetre_tier() -> None:
    """WildRGB-D stores depth in whole millimetres: a millimetre-tier object (not among the test fixtures)."""
    with tempfile.TemporaryDirectory(prefix="spacevista-sources-") as workdir:
        (result,) = curate_fixtures(Path(workdir), {"wildrgbd": [
            lambda root: write_wildrgbd(root, tier=ScaleTier.TINY_TABLETOP, seed=4, num_frames=12, width=512,
                                        height=384)]}).values()
    checks = [(task, score, text) for _, task, score, text in scored(result) if task in NUMERIC_TASKS]
    print(f"\nWildRGB-D layout, tiny_tabletop scene (512×384, depth in mm): numeric MRA "
          f"{np.mean([score for _, score, _ in checks]):.3f} over {len(checks)} answers")
    for task, score, text in checks:
        if task == "object_size":
            print(f"  object_size {text} (m, answer vs truth): MRA {score:.2f}")


def _lacks(source, fixture) -> list[Modality]:
    """What the pipeline would ask specialists for, for one fixture item: read it again and ask `needs`."""
    from sources.contract import KeyframePolicy  # noqa: PLC0415
    from sources.registry import discover  # noqa: PLC0415

    item = next(i for i in discover(fixture.root) if i.scene_id == fixture.scene_id)
    return needs(source.read(fixture.root, item, KeyframePolicy(3, 4)))


if __name__ == "__main__":
    main()
