"""How well lifted object boxes match the generator's exact boxes, per tier: for every lifted object, and for the
objects that pass the metric gate (seen whole at least once, footprint pinned by complete views).

    .venv/bin/python -m benchmarks.lift_accuracy [--data-root DIR]   (default: render the default set first)
"""

from __future__ import annotations

import argparse
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from facts.canonical import canonical_from_world
from pipeline.video import scene_facts_from_native
from qa_templates.gates import metric_ready
from schemas.ingest import FrameRow
from sources import annotated
from sources.synthetic import generate_default_dataset
from sources.video_decode import probe_video, sample_keyframes
from storage.layout import OutputLayout


def size_errors(root: Path, scratch: Path) -> dict[str, list[tuple[float, float, bool]]]:
    """Per tier: (largest relative size error, centre error / size, passes the metric gate) per lifted object."""
    layout = OutputLayout(scratch)
    errors: dict[str, list[tuple[float, float, bool]]] = defaultdict(list)
    for item in annotated.discover(root):
        probe = probe_video(item.path)
        keyframes = sample_keyframes(probe.n_frames, 3, 16)
        native = annotated.load_annotations(root, item.annotations_dir, keyframes, probe.n_frames)
        frames = [FrameRow(video_id="bench", scene_id=item.scene_id, frame_index=i, timestamp_s=i / probe.fps,
                           frame_sha256="-", path="-", width=probe.width, height=probe.height) for i in keyframes]
        facts = scene_facts_from_native(item, "bench", native, frames, layout)
        canonical = canonical_from_world(native.camera_to_world[0], np.asarray(native.scene.up))
        truth = {o.instance_id: o.box for o in native.scene.objects}
        for obj in facts.objects:
            box = truth[obj.instance_id]
            expected = np.array(sorted(box.size[:2], reverse=True) + [box.size[2]])
            size_error = float(np.abs(np.array(obj.size_lwh) / expected - 1).max())
            centre = canonical[:3, :3] @ np.asarray(box.center) + canonical[:3, 3]
            centre_error = float(np.linalg.norm(np.array(obj.center) - centre) / expected.max())
            errors[facts.scene.scale.value].append((size_error, centre_error, metric_ready(obj) is None))
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-root", type=Path, default=None)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="spacevista-lift-"))
    root = args.data_root or scratch / "data"
    if args.data_root is None:
        generate_default_dataset(root)
    print(f"{'tier':14s} {'objects':>7s} {'gated in':>8s}   {'all: median / max size error':>30s}   "
          f"{'gated in: median / max size error, max centre error':>52s}")
    for tier, rows in sorted(size_errors(root, scratch / "out").items()):
        sizes, centres, ready = (np.array(col) for col in zip(*rows))
        kept = sizes[ready]
        print(f"{tier:14s} {len(rows):7d} {int(ready.sum()):8d}   {np.median(sizes):14.1%} / {sizes.max():13.1%}   "
              f"{np.median(kept):24.2%} / {kept.max():8.2%} / {centres[ready].max():8.2%}")


if __name__ == "__main__":
    main()
