"""The SpaceVista authors' bench evaluator's reading of an exported item, reimplemented for the tests.

Written from the behaviour of their evaluator (GitHub PeiwenSun2000/SpaceVista at 920a9b7: eval/evaluate_api.py,
eval/metrics/common.py, eval/metrics/spacevista_bench.py), not copied: it loads the JSON array, classifies the answer
from `str(entry["answer"])`, opens `videos[0]` relative to the working directory, draws points read as [y, x]
(dropped when outside the frame), boxes [x1, y1, x2, y2] in their own colour, masks selected by integer id from an
`np.load`ed array (theirs allows pickles; ours hold none, so this loads without) and coloured by list position, and
the `dual_bbox` dict (source red, targets blue, green…); it writes the results line their scorer reads (scored by
tests.seed_scoring.authors_score).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from tests.seed_scoring import answer_type

AUTHOR_RGB = {"red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 128, 255), "yellow": (255, 215, 0)}
MASK_ORDER = ("red", "blue", "green", "yellow")
"""The colours their evaluator gives masks by list position, and dual_bbox targets from the second on."""


class AuthorsLoader:
    """The authors' bench evaluator's reading of an entry, reimplemented (see the module docstring)."""

    def __init__(self, export_dir: Path):
        self.export_dir = export_dir

    def load(self, dataset_path: Path) -> list[dict]:
        with open(dataset_path) as f:
            return json.load(f)

    def frames(self, entry: dict) -> list[np.ndarray]:
        """The entry's frames as RGB arrays with its annotations drawn, as the evaluator sends them."""
        paths = entry["videos"][0]
        images = [cv2.cvtColor(cv2.imread(str(self.export_dir / p)), cv2.COLOR_BGR2RGB) for p in paths]
        kind = entry["input_type"]
        annotations = entry.get("annotations") or {}
        if "point" in kind:
            for p in annotations.get("points") or []:
                y, x = p["coords"]
                image = images[p.get("image_index", 0)]
                if 0 <= x < image.shape[1] and 0 <= y < image.shape[0]:
                    cv2.circle(image, (round(x), round(y)), 8, AUTHOR_RGB.get(p.get("color"), AUTHOR_RGB["red"]), -1)
        if "bbox" in kind:
            for b in annotations.get("bboxes") or []:
                self._box(images[b.get("image_index", 0)], b["coords"], b.get("color"))
            dual = annotations.get("dual_bbox")
            if dual:
                if dual.get("source_bbox"):
                    self._box(images[self._index(dual.get("source_image"), paths)], dual["source_bbox"], "red")
                for j, box in enumerate(dual.get("target_bboxes") or []):
                    self._box(images[self._index(dual.get("target_image"), paths)], box, MASK_ORDER[(j + 1) % 4])
        if "mask" in kind:
            for i, m in enumerate(annotations.get("masks") or []):
                labels = np.load(self.export_dir / m["mask_path"], allow_pickle=False)
                ids = [int(x) for x in m["object_ids"]]
                selected = np.isin(labels, ids) if labels.dtype != bool else labels
                image = images[self._index(m.get("image_path"), paths)]
                image[selected] = (0.65 * image[selected] + 0.35 * np.array(AUTHOR_RGB[MASK_ORDER[i % 4]])).astype(
                    np.uint8)
        return images

    @staticmethod
    def colours(entry: dict) -> list[str]:
        """The colour the evaluator draws each annotation in: points, boxes, masks, then the dual_bbox's boxes."""
        annotations = entry["annotations"]
        drawn = [p["color"] if p["color"] in AUTHOR_RGB else "red"
                 for p in annotations["points"] + annotations["bboxes"]]
        drawn += [MASK_ORDER[i % 4] for i, _ in enumerate(annotations["masks"])]
        if annotations["dual_bbox"]:
            targets = annotations["dual_bbox"]["target_bboxes"]
            drawn += ["red", *(MASK_ORDER[(j + 1) % 4] for j in range(len(targets)))]
        return drawn

    @staticmethod
    def _box(image: np.ndarray, coords: list[float], color: str | None) -> None:
        x1, y1, x2, y2 = (int(v) for v in coords)
        cv2.rectangle(image, (x1, y1), (x2, y2), AUTHOR_RGB.get(color, AUTHOR_RGB["red"]), 2)

    @staticmethod
    def _index(image_path: str | None, paths: list[str]) -> int:
        return paths.index(image_path) if image_path in paths else 0

    @staticmethod
    def result(entry: dict, prediction: str) -> dict:
        """The row their evaluator writes to its results JSONL."""
        return {"id": entry["id"], "input_type": entry.get("input_type", ""),
                "category": entry["metadata"]["category"], "scale": entry["metadata"]["scale"],
                "original_type": entry["metadata"]["original_type"], "question": entry["question"],
                "ground_truth": entry["answer"], "predicted_answer": prediction,
                "answer_type": answer_type(entry["answer"])}
