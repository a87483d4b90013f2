"""Is the SfM scale's uncertainty calibrated? Over many synthetic scenes with known cameras: SfM of the keyframes,
scale from the (exact) depth as the pipeline takes a source's own depth (`measured`: a reconstruction the depth
disagrees with is weak), and the true scale error (a similarity fit of the registered camera centres to the
true ones) against the uncertainty the estimate reports. Calibrated means the true error lies within the
uncertainty in ≥ 95 % of the scenes that are not gated as weak. Also counts the scenes whose metric QA the gates
let through, and the largest true error among them.

Reconstructions are cached (`--cache DIR`, .npz per scene), so a rerun after a change to the estimate is quick.

    .venv/bin/python -m benchmarks.scale_calibration [--seeds 8] [--first-seed 100] [--cache DIR] [--wide]
    (--wide --seeds 5 --first-seed 0: the wide set of benchmarks.specialist_quality --wide, 8 keyframes of 256×192)
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from benchmarks.specialist_quality import true_similarity
from schemas.specialists import SfMConfig
from schemas.tiers import ScaleTier
from sources.contract import KeyframePolicy
from sources.registry import get_source
from sources.synthetic import generate_scene
from sources.synthetic.generate import WIDE_SETTINGS
from sources.synthetic.scene_specs import WIDE, scene_id_for
from qa_templates.gates import GATES
from specialists.scale_alignment import ScaleAlignmentError, align_to_depth
from specialists.sfm import SfMError, SfMReconstruction, reconstruct


def scene_name(tier: ScaleTier, seed: int, wide: bool) -> str:
    return f"{WIDE}_{tier.value}_{seed}" if wide else f"{tier.value}_{seed}"


def reconstruction(tier: ScaleTier, seed: int, cache: Path, scratch: Path,
                   wide: bool = False) -> tuple[SfMReconstruction, dict] | str:
    """The scene's SfM reconstruction and its true depth and cameras (from the cache when there), or why SfM
    failed. `wide`: the scene's wide variant (the wide set's motions and render), as `generate_wide_dataset`."""
    name = scene_name(tier, seed, wide)
    cached = cache / f"{name}.npz"
    failed = cache / f"{name}.failed"
    if failed.exists():
        return failed.read_text()
    if not cached.exists():
        root = scratch / name
        if wide:
            generate_scene(tier, seed, root / f"{WIDE}_{scene_id_for(tier, seed)}", settings=WIDE_SETTINGS,
                           variant=WIDE)
        else:
            generate_scene(tier, seed, root / scene_id_for(tier, seed))
        item = next(iter(get_source("annotated").discover(root)))
        inputs = get_source("annotated").read(root, item, KeyframePolicy(3, 16))
        try:
            rec = reconstruct(inputs.rgb, Path(tempfile.mkdtemp(dir=scratch)), SfMConfig())
        except SfMError as err:
            failed.write_text(str(err))
            return str(err)
        np.savez(cached, depth=inputs.depth_m, truth=inputs.camera_to_world,
                 **{f"rec_{key}": value for key, value in rec.to_arrays().items()})
    arrays = np.load(cached)
    rec = SfMReconstruction.from_arrays({key[4:]: arrays[key] for key in arrays.files if key.startswith("rec_")})
    return rec, {"depth": arrays["depth"], "truth": arrays["truth"]}


def measure(rec: SfMReconstruction, truth: dict) -> dict | str:
    """The scale estimate against the true scale, as the pipeline estimates it from a source's own depth
    (`measured`), or why there is no true scale to compare."""
    estimate = align_to_depth(rec, truth["depth"], measured=True)
    similarity = true_similarity(rec, truth["truth"])
    if isinstance(similarity, str):
        return similarity
    error = abs(estimate.scale / similarity[0] - 1)
    return {"registered": f"{rec.registered.sum()}/{len(rec.registered)}", "error": error,
            "uncertainty": estimate.uncertainty, "weakness": estimate.weakness}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=8, help="scenes per tier")
    parser.add_argument("--first-seed", type=int, default=100, help="generator seed of the first scene per tier")
    parser.add_argument("--cache", type=Path, default=None, help="keep reconstructions here (default: temporary)")
    parser.add_argument("--wide", action="store_true",
                        help="the scenes' wide variants (seeds 0-4: the wide set of tests/test_ground_truth_wide.py)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="spacevista-scale-calibration-") as scratch:
        cache = args.cache or Path(scratch) / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        results = defaultdict(list)
        print(f"{'scene':22s} {'registered':>10s} {'true error':>10s} {'uncertainty':>11s} {'within':>6s}  gated")
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            for tier in ScaleTier:
                name = scene_name(tier, seed, args.wide)
                got = reconstruction(tier, seed, cache, Path(scratch), args.wide)
                if isinstance(got, str):
                    print(f"{name:22s} SfM failed: {got}")
                    continue
                try:
                    row = measure(*got)
                except ScaleAlignmentError as err:
                    print(f"{name:22s} no scale: {err}")
                    continue
                if isinstance(row, str):
                    print(f"{name:22s} no true scale: {row}")
                    continue
                results[tier.value].append(row)
                within = row["error"] <= row["uncertainty"]
                print(f"{name:22s} {row['registered']:>10s} {row['error']:10.2%} {row['uncertainty']:11.2%} "
                      f"{'yes' if within else 'NO':>6s}  {row['weakness'] or ''}", flush=True)
    limit = GATES.max_scale_error
    print(f"\n{'tier':14s} {'scenes':>6s} {'weak':>5s} {'covered':>8s} {'uncertain':>9s} {'let through':>11s} "
          f"{'max error let through':>21s}")
    for tier, rows in [*results.items(), ("all", [r for rows in results.values() for r in rows])]:
        kept = [r for r in rows if not r["weakness"]]
        through = [r for r in kept if r["uncertainty"] <= limit]
        covered = np.mean([r["error"] <= r["uncertainty"] for r in kept]) if kept else float("nan")
        print(f"{tier:14s} {len(rows):6d} {len(rows) - len(kept):5d} {covered:8.0%} {len(kept) - len(through):9d} "
              f"{len(through):11d} {max((r['error'] for r in through), default=float('nan')):21.2%}")
    print(f"(covered: true error within the reported uncertainty, among scenes not gated as weak; metric QA is let "
          f"through where the uncertainty is at most {limit:.0%})")


if __name__ == "__main__":
    main()
