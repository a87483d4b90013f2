"""Quality of the SfM pose path on the synthetic tiers, against the generator's ground truth.

Per scene: pycolmap on the keyframes (sequential matching), metric scale from the native depth (depth ratio),
native masks for the objects, SfM intrinsics + scaled poses for the cameras; then QA as the pipeline generates it.
Printed per tier: share of keyframes registered, camera-centre error after a similarity (Umeyama) alignment,
scale error and spread, the uncertainty the scale reports and how often the true error lies within it ("covered",
among scenes not gated as weak), the error of the recovered up direction, MRA of absolute distance / object size /
depth QA and of every numeric QA the gates let through, MC agreement of the MC QA let through (all held against
exact truth: tests/wide_truth.py), QA dropped by the scale gates (uncertain scale, weak reconstruction), and SfM
time (seconds per reconstruction and per 30 keyframes; pycolmap is the plain path).

    .venv/bin/python -m benchmarks.specialist_quality [--data-root DIR] [--scenes-per-tier 1] [--wide]
        [--keyframe-stride 3] [--max-keyframes 16]     (stride 1, max 30: 30 keyframes per reconstruction)
    (default: render the scenes into a temporary folder first; --wide renders the wide set of the ground-truth
    test instead: five camera motions per tier at 256×192, 24 frames)
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from pathlib import Path

import numpy as np

from pipeline.fill import metric_from_sfm
from pipeline.scene_facts import build_scene_facts
from qa_templates.gates import SCALE_UNCERTAIN, WEAK_RECONSTRUCTION
from qa_templates.generate import generate_scene_qa
from schemas.ingest import FrameRow
from schemas.specialists import SfMConfig
from schemas.tiers import ScaleTier
from sources.contract import KeyframePolicy, Modality
from sources.registry import get_source
from sources.synthetic import generate_scene
from sources.synthetic.generate import generate_wide_dataset
from sources.synthetic.scene_specs import scene_id_for
from specialists.scale_alignment import ScaleAlignmentError, align_to_depth
from specialists.sfm import SfMError, SfMReconstruction, reconstruct
from storage.layout import OutputLayout
from tests.wide_run import score

MEASURED_TASKS = ("absolute_distance", "object_size", "depth_estimation")


def umeyama(source: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Similarity (s, R, t) minimising ‖s R source + t − target‖² over point pairs [K,3] (Umeyama 1991)."""
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    a, b = source - mu_s, target - mu_t
    u, d, vt = np.linalg.svd(b.T @ a / len(a))
    sign = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(d) @ sign) / (a**2).sum(axis=1).mean())
    return scale, rotation, mu_t - scale * rotation @ mu_s


def true_similarity(rec: SfMReconstruction, truth_poses: np.ndarray) -> tuple[float, np.ndarray, np.ndarray] | str:
    """The similarity (s, R, t) taking the registered SfM camera centres onto the true ones [N,4,4] (s: the true
    metres per SfM unit), or why there is none: under two keyframes registered, or true cameras that do not move."""
    ok = rec.registered
    if ok.sum() < 2:
        return f"{ok.sum()} keyframe registered: no similarity to the true cameras"
    s, rotation, shift = umeyama(rec.camera_to_world[ok][:, :3, 3], truth_poses[ok][:, :3, 3])
    if not s > 0:
        return "the true cameras do not move (a pan on the spot): no true scale to compare"
    return s, rotation, shift


def measure_scene(item, root: Path, scratch: Path, stride: int, keyframes_cap: int) -> dict:
    inputs = get_source(item.source).read(root, item, KeyframePolicy(stride, keyframes_cap))
    truth_poses = inputs.camera_to_world
    start = time.perf_counter()
    try:
        rec = reconstruct(inputs.rgb, Path(tempfile.mkdtemp(dir=scratch)), SfMConfig())
    except SfMError as err:
        return {"tier": inputs.tier.value, "n": len(inputs.frame_indices), "registered": 0.0,
                "sfm_s": time.perf_counter() - start, "error": f"SfM failed: {err}"}
    sfm_s = time.perf_counter() - start
    try:
        scale = align_to_depth(rec, inputs.depth_m, measured=True)
    except ScaleAlignmentError as err:
        return {"tier": inputs.tier.value, "n": len(inputs.frame_indices), "registered": float(rec.registered.mean()),
                "sfm_s": sfm_s, "error": f"no metric scale: {err}"}
    ok = rec.registered
    similarity = true_similarity(rec, truth_poses)
    if isinstance(similarity, str):
        return {"tier": inputs.tier.value, "n": len(inputs.frame_indices), "registered": float(ok.mean()),
                "sfm_s": sfm_s, "error": similarity}
    s, rotation, t = similarity
    truth_centres = truth_poses[ok][:, :3, 3]
    aligned = (s * rec.camera_to_world[ok][:, :3, 3] @ rotation.T) + t
    centre_error = np.linalg.norm(aligned - truth_centres, axis=1)
    path_length = float(np.linalg.norm(np.diff(truth_centres, axis=0), axis=1).sum())
    frames = [FrameRow(video_id="bench", scene_id=item.scene_id, frame_index=i, timestamp_s=ts,
                       frame_sha256="-", path="-", width=inputs.rgb.shape[2], height=inputs.rgb.shape[1])
              for i, ts in zip(inputs.frame_indices, inputs.timestamps_s)]
    without_poses = replace(inputs, camera_to_world=None, intrinsics=None, up=None, provenance={
        m: p for m, p in inputs.provenance.items() if m not in (Modality.POSES, Modality.INTRINSICS)})
    filled = metric_from_sfm(without_poses, rec, True, "colmap_sfm:benchmark", depth_measured=True)
    up_error = float(np.degrees(np.arccos(np.clip(rotation @ filled.inputs.up @ inputs.up, -1.0, 1.0))))
    facts = build_scene_facts(filled, "bench", frames, OutputLayout(scratch / "out"))
    qa = generate_scene_qa(facts, "bench")
    cells = score([row.model_dump(mode="json") for row in qa.rows], root, scratch / "out")
    scale_error = abs(scale.scale / s - 1)
    return {"tier": inputs.tier.value, "n": len(inputs.frame_indices), "registered": float(ok.mean()), "sfm_s": sfm_s,
            "centre_error_m": float(np.mean(centre_error)), "centre_error_rel": float(np.mean(centre_error)) /
            max(path_length, 1e-9), "scale_error": scale_error, "scale_mad": scale.relative_mad,
            "uncertainty": scale.uncertainty, "weakness": scale.weakness, "up_error_deg": up_error,
            "covered": None if scale.weakness else scale_error <= scale.uncertainty,
            "reproj_px": rec.mean_reprojection_px, "mra": {task: c.mra for (_, task), c in cells.items() if c.mra},
            "mc": (sum(c.mc_agree for c in cells.values()), sum(c.mc_checked for c in cells.values())),
            "wrong": [w for c in cells.values() for w in c.wrong],
            "scale_drops": sum(n for (task, reason), n in qa.drops.items()
                               if reason in (SCALE_UNCERTAIN, WEAK_RECONSTRUCTION))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root", type=Path, default=None, help="annotated scenes (e.g. data/default)")
    parser.add_argument("--scenes-per-tier", type=int, default=1, help="scenes rendered per tier when rendering")
    parser.add_argument("--wide", action="store_true", help="render the wide set (tests/test_ground_truth_wide.py)")
    parser.add_argument("--keyframe-stride", type=int, default=3, help="every n-th frame (curate's default: 3)")
    parser.add_argument("--max-keyframes", type=int, default=16, help="keyframes per video (curate's default)")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="spacevista-sfm-bench-"))
    root = args.data_root or scratch / "data"
    if args.data_root is None and args.wide:
        generate_wide_dataset(root, args.scenes_per_tier)
    elif args.data_root is None:
        for tier in ScaleTier:
            for seed in range(args.scenes_per_tier):
                generate_scene(tier, seed, root / scene_id_for(tier, seed))
    results = defaultdict(list)
    for item in get_source("annotated").discover(root):
        result = measure_scene(item, root, scratch, args.keyframe_stride, args.max_keyframes)
        results[result["tier"]].append(result)
        scale = (f", scale error {result['scale_error']:.1%} within ±{result['uncertainty']:.1%}: "
                 f"{'yes' if result['scale_error'] <= result['uncertainty'] else 'NO'}, "
                 f"up {result['up_error_deg']:.1f}° off"
                 + (f", weak ({result['weakness']})" if result["weakness"] else "")) if "scale_error" in result else ""
        print(f"  {item.scene_id}: {result['n']} keyframes, {result['registered']:.0%} registered, "
              f"{result['sfm_s']:.1f} s" + (f", {result['error']}" if "error" in result else "") + scale, flush=True)
        for wrong in result.get("wrong", [])[:4]:
            print(f"      {wrong[:240]}")
    print(f"\n{'tier':14s} {'scenes':>6s} {'registered':>10s} {'centre err':>10s} {'(% path)':>8s} "
          f"{'scale err':>9s} {'scale MAD':>9s} {'uncert.':>8s} {'covered':>7s} {'weak':>4s} {'up err°':>7s} "
          f"{'reproj px':>9s} "
          + " ".join(f"{'MRA ' + t.split('_')[0]:>10s}" for t in MEASURED_TASKS)
          + f" {'MRA num':>8s} {'n num':>5s} {'MC agr':>9s} {'gated':>5s} {'s/recon':>7s} {'s/30 kf':>7s}")
    for tier in [t.value for t in ScaleTier if t.value in results]:
        rows = results[tier]
        done = [r for r in rows if "error" not in r]
        per_task = {t: [v for r in done for v in r["mra"].get(t, [])] for t in MEASURED_TASKS}
        every = [v for r in done for values in r["mra"].values() for v in values]
        judged = [r["covered"] for r in done if r["covered"] is not None]
        agree, checked = (sum(r["mc"][k] for r in done) for k in (0, 1))

        def mean(key: str, done=done) -> float:
            return float(np.mean([r[key] for r in done])) if done else float("nan")
        sfm_s = float(np.mean([r["sfm_s"] for r in rows]))
        per_30 = float(np.mean([r["sfm_s"] * 30 / r["n"] for r in rows]))
        print(f"{tier:14s} {len(rows):6d} {np.mean([r['registered'] for r in rows]):10.0%} "
              f"{mean('centre_error_m'):9.3g}m {mean('centre_error_rel'):8.2%} {mean('scale_error'):9.2%} "
              f"{mean('scale_mad'):9.2%} {mean('uncertainty'):8.1%} "
              f"{f'{sum(judged)}/{len(judged)}' if judged else '-':>7s} {len(done) - len(judged):4d} "
              f"{mean('up_error_deg'):7.2f} "
              f"{mean('reproj_px'):9.2f} "
              + " ".join(f"{np.mean(v) if v else float('nan'):10.3f}" for v in per_task.values())
              + f" {np.mean(every) if every else float('nan'):8.3f} {len(every):5d} "
              f"{f'{agree}/{checked}':>9s} {sum(r.get('scale_drops', 0) for r in rows):5d} {sfm_s:7.1f} {per_30:7.1f}")
    print("(covered: scenes whose true scale error lies within the reported uncertainty / scenes not gated as weak; "
          "MRA num: every numeric QA let through, against exact truth; gated: metric QA dropped as scale_uncertain "
          "or weak_reconstruction)")


if __name__ == "__main__":
    main()
