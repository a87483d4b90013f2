"""The `seed` export read the way the SpaceVista authors' tools read SpaceVista-Full / SpaceVista-Bench
(tests.authors_eval), prompts either drawn or annotated (never both), empty prompt lists as lists, and HF `datasets`
loading every export format from several exports in any order.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest

from schemas.arrow import from_record
from schemas.export import ExportConfig, SeedBenchItem, SeedItem
from schemas.qa import QARow
from storage.artifacts import put_mask
from storage.catalog import query
from storage.layout import OutputLayout
from tests.authors_eval import AuthorsLoader
from tests.eval_builders import commit_qa, frames, mc_row, numeric_row
from tests.seed_scoring import authors_score
from training.export import export_dataset
from training.seed_format import AUTHOR_CODES, CATEGORY_TIERS, TASK_CODES, TIER_NAMES, task_code, task_code_table

SEED_KEYS = {"id", "input_type", "messages", "videos", "annotations", "metadata"}
BENCH_KEYS = SEED_KEYS | {"question", "answer", "unit"}
POINT_XY = (50.0, 12.0)
"""x beyond the frame's height (48): read in the wrong order, the point falls outside the 64×48 frame."""


def _with(row: QARow, **update) -> QARow:
    return QARow.model_validate({**row.model_dump(), **update})


def _prompt(kind: str, frame: int, instance: int, color: str, coords=(), mask_path=None) -> dict:
    return {"kind": kind, "frame": frame, "object_id": f"scene/{instance}", "coords": list(coords),
            "mask_path": mask_path, "color": color}


def _rows(layout: OutputLayout) -> list[QARow]:
    """One row per prompt kind and answer kind, over four tiers and drone."""
    paths = frames(layout, 3)
    region = np.zeros((48, 64), bool)
    region[10:30, 5:25] = True
    other = np.zeros((48, 64), bool)
    other[20:40, 30:60] = True
    masks = [put_mask(layout, region), put_mask(layout, other)]
    yes_no = ["yes", "no"]
    return [
        mc_row("q-text-000000000", "indoor", "existence", yes_no, "yes", paths),
        _with(mc_row("q-point-00000000", "tabletop", "position_comparison", ["left of", "right of"], "right of",
                     paths, [_prompt("point", 2, 3, "red", POINT_XY)]), template_id="left_right/0"),
        _with(mc_row("q-bbox-000000000", "tiny_tabletop", "size_comparison", ["the red one", "the green one"],
                     "the green one", paths, [_prompt("bbox", 1, 1, "red", (2, 3, 20, 30)),
                                              _prompt("bbox", 3, 2, "green", (30, 5, 60, 40))]),
              template_id="height/2"),
        mc_row("q-mask-000000000", "outdoor", "relative_distance", ["the blue one", "the red one"], "the red one",
               paths, [_prompt("mask", 2, 5, "blue", mask_path=masks[1]),
                       _prompt("mask", 1, 4, "red", mask_path=masks[0])]),
        mc_row("q-greenmask-0000", "outdoor", "relative_distance", ["the red one", "the green one"], "the red one",
               paths, [_prompt("mask", 1, 4, "red", mask_path=masks[0]),
                       _prompt("mask", 2, 5, "green", mask_path=masks[1])]),
        mc_row("q-magenta-000000", "indoor", "size_comparison", ["the red one", "the magenta one"], "the red one",
               paths, [_prompt("bbox", 1, 1, "red", (2, 3, 20, 30)),
                       _prompt("bbox", 1, 2, "magenta", (30, 5, 60, 40))]),
        _with(mc_row("q-pointbox-00000", "indoor", "spatial_relation", ["above", "below"], "below", paths,
                     [_prompt("point", 1, 6, "red", (10, 20)), _prompt("bbox", 1, 7, "green", (30, 5, 60, 40))]),
              input_type="point_bbox"),
        mc_row("q-match-00000000", "tabletop", "object_matching", yes_no, "no", paths,
               [_prompt("bbox", 1, 8, "red", (2, 3, 20, 30)), _prompt("bbox", 3, 9, "green", (30, 5, 60, 40))]),
        _with(numeric_row("q-height-0000000", "tabletop", "object_size", 0.4218, "cm", 42.2, paths, "42.2 cm"),
              template_id="height/0"),
        numeric_row("q-count-00000000", "drone", "object_counting", 3.0, "count", 3.0, paths, "3"),
        numeric_row("q-depth-00000000", "indoor", "depth_estimation", 2.5311, "m", 2.53, paths, "2.53 m"),
    ]


@pytest.fixture(scope="module")
def curated(tmp_path_factory) -> Path:
    """An output root holding the rows as both its `qa` and its `benchmark` table, frames and masks on disk."""
    layout = OutputLayout(tmp_path_factory.mktemp("seed") / "out")
    rows = _rows(layout)
    commit_qa(layout, rows)
    commit_qa(layout, rows, table="benchmark")
    return layout.root


def _export(root: Path, out: Path, **config) -> tuple[object, list[dict]]:
    report = export_dataset(ExportConfig(output_root=root, export_dir=out, **config))
    path = Path(report.files["items"])
    items = json.loads(path.read_text()) if path.suffix == ".json" else [
        json.loads(line) for line in path.read_text().splitlines()]
    return report, items


def test_the_authors_loader_reads_every_benchmark_item_and_scores_perfect_answers_1(curated, tmp_path):
    report, items = _export(curated, tmp_path, table="benchmark", format="seed")
    assert Path(report.files["items"]).name == "spacevista.json" and report.skipped == []
    loader = AuthorsLoader(tmp_path)
    entries = loader.load(Path(report.files["items"]))
    assert len(entries) == len(items) == 11
    results = []
    for entry in entries:
        SeedBenchItem.model_validate(entry)
        assert entry.keys() == BENCH_KEYS
        assert all(frame.shape == (48, 64, 3) for frame in loader.frames(entry))
        results.append(loader.result(entry, f"<think>…</think><answer>{entry['answer']}</answer>"))
    assert [authors_score(r["ground_truth"], r["predicted_answer"]) for r in results] == [1.0] * len(results)
    assert {r["answer_type"] for r in results} == {"mc", "numerical"}
    by_id = {e["id"]: e for e in entries}
    assert (by_id["q-depth-00000000"]["answer"], by_id["q-depth-00000000"]["unit"]) == ("2.53", "m")
    assert (by_id["q-count-00000000"]["answer"], by_id["q-count-00000000"]["unit"]) == ("3", "count")
    assert (by_id["q-match-00000000"]["answer"], by_id["q-match-00000000"]["unit"]) == ("B", "")
    assert {e["metadata"]["category"] for e in entries} == {"TinyTabletop", "Tabletop", "Indoor", "Outdoor"}
    assert by_id["q-count-00000000"]["metadata"]["category"] == "Outdoor"
    assert {e["id"]: e["metadata"]["original_type"] for e in entries} == {
        "q-text-000000000": "EXISTENCE", "q-point-00000000": "POSITION_ACROSS_FRAME",
        "q-greenmask-0000": "OBJECT_RELATIVE_DISTANCE", "q-magenta-000000": "COMPARISON_WIDTH",
        "q-bbox-000000000": "COMPARISON_HEIGHT", "q-mask-000000000": "OBJECT_RELATIVE_DISTANCE",
        "q-pointbox-00000": "SPATIAL_RELATION", "q-match-00000000": "OBJECT_MATCHING", "q-height-0000000": "HEIGHT",
        "q-count-00000000": "COUNTING", "q-depth-00000000": "DEPTH"}
    assert {e["metadata"]["scale"] for e in entries} == {"mm", "cm", "m"}


def test_seed_masks_are_npy_label_arrays_selected_by_integer_id_and_dual_bbox_is_a_dict(curated, tmp_path):
    _, items = _export(curated, tmp_path, format="seed")
    by_id = {i["id"]: i for i in items}
    assert all(i.keys() == SEED_KEYS for i in items) and all(SeedItem.model_validate(i) for i in items)
    masks = by_id["q-mask-000000000"]["annotations"]["masks"]
    assert [m["object_ids"] for m in masks] == [[4], [5]]
    layout = OutputLayout(curated)
    for mask, source in zip(masks, (0, 1)):
        assert mask["mask_path"].endswith(".npy") and mask["image_path"] == by_id["q-mask-000000000"]["videos"][0][
            source]
        labels = np.load(tmp_path / mask["mask_path"], allow_pickle=False)
        assert labels.shape == (48, 64) and labels.dtype.kind == "u"
        curated_mask = cv2.imread(str(layout.local_root / _curated_mask(curated, mask["object_ids"][0])), 0) > 127
        assert ((labels == mask["object_ids"][0]) == curated_mask).all() and set(np.unique(labels)) == {
            0, mask["object_ids"][0]}
    match = by_id["q-match-00000000"]
    video = match["videos"][0]
    assert match["annotations"]["bboxes"] == [] and match["annotations"]["dual_bbox"] == {
        "source_image": video[0], "source_bbox": [2.0, 3.0, 20.0, 30.0],
        "target_image": video[2], "target_bboxes": [[30.0, 5.0, 60.0, 40.0]]}
    drawn = AuthorsLoader(tmp_path).frames({**match, "question": "", "answer": "B"})
    assert _changed(drawn[0], tmp_path / video[0]).any() and _changed(drawn[2], tmp_path / video[2]).any()
    assert not _changed(drawn[1], tmp_path / video[1]).any()
    assert by_id["q-bbox-000000000"]["annotations"]["dual_bbox"] is None
    assert len(by_id["q-bbox-000000000"]["annotations"]["bboxes"]) == 2


def _curated_mask(root: Path, instance: int) -> str:
    rows = _rows_by_id(root)
    return next(p.mask_path for p in rows["q-mask-000000000"].visual_prompts if p.object_id == f"scene/{instance}")


def _rows_by_id(root: Path) -> dict[str, QARow]:
    return {r["qa_id"]: from_record(r, QARow) for r in query(OutputLayout(root), "SELECT * FROM qa").to_pylist()}


def _changed(image_rgb: np.ndarray, original: Path) -> np.ndarray:
    return (image_rgb != cv2.cvtColor(cv2.imread(str(original)), cv2.COLOR_BGR2RGB)).any(axis=2)


def test_points_are_y_x_in_seed_and_x_y_in_spacevista_in_pixels_of_the_exported_frame(curated, tmp_path):
    _, seed = _export(curated, tmp_path / "seed", format="seed")
    _, ours = _export(curated, tmp_path / "ours", prompts="annotations")
    x, y = POINT_XY
    (seed_point,) = next(i for i in seed if i["id"] == "q-point-00000000")["annotations"]["points"]
    (our_point,) = next(i for i in ours if i["id"] == "q-point-00000000")["annotations"]["points"]
    assert seed_point["coords"] == [y, x] and our_point["coords"] == [x, y]

    item = next(i for i in seed if i["id"] == "q-point-00000000")
    frame = AuthorsLoader(tmp_path / "seed").frames({**item, "question": "", "answer": "A"})[1]
    changed = _changed(frame, tmp_path / "seed" / item["videos"][0][1])
    yy, xx = np.nonzero(changed)
    assert changed.any() and abs(xx.mean() - x) < 1.5 and abs(yy.mean() - y) < 1.5
    exported = cv2.imread(str(tmp_path / "seed" / item["videos"][0][1]))
    source = _rows_by_id(curated)["q-point-00000000"].frame_paths[1]
    original = cv2.imread(str(OutputLayout(curated).local_root / source))
    assert exported.shape == original.shape == (48, 64, 3)


@pytest.mark.parametrize("fmt", ["spacevista", "seed"])
def test_frames_are_clean_with_annotations_or_drawn_without_never_both(curated, tmp_path, fmt):
    rows = _rows_by_id(curated)
    root = OutputLayout(curated).local_root
    for prompts in ("drawn", "annotations"):
        report, items = _export(curated, tmp_path / prompts, format=fmt, prompts=prompts)
        for item in items:
            annotations = item["annotations"]
            annotated = any(annotations[k] for k in ("points", "bboxes", "masks")) or annotations["dual_bbox"]
            originals = [(root / p).read_bytes() for p in rows[item["id"]].frame_paths]
            exported = [(tmp_path / prompts / p).read_bytes() for p in item["videos"][0]]
            if not rows[item["id"]].visual_prompts:
                assert exported == originals and not annotated
            elif prompts == "drawn" or item["id"] in report.drawn_instead:
                assert exported != originals and not annotated
            else:
                assert exported == originals and annotated
    default, _ = _export(curated, tmp_path / "default", format=fmt)
    expected = {"spacevista": "drawn", "seed": "annotations"}[fmt]
    assert ExportConfig(output_root=curated, export_dir=tmp_path, format=fmt).prompt_mode == expected
    assert default.media_files_written == (
        export_dataset(ExportConfig(output_root=curated, export_dir=tmp_path / "same", format=fmt,
                                    prompts=expected)).media_files_written)


def test_seed_items_the_authors_loader_would_draw_in_another_colour_come_drawn(curated, tmp_path):
    """Their loader draws a magenta box red and colours masks by list position: those items come pre-drawn in the
    colours the question names; masks whose colours fit the palette are listed in its order instead."""
    seed, items = _export(curated, tmp_path / "seed", format="seed")
    assert seed.drawn_instead == ["q-greenmask-0000", "q-magenta-000000"]
    by_id = {i["id"]: i for i in items}
    for qa_id in seed.drawn_instead:
        assert by_id[qa_id]["annotations"] == {"points": [], "bboxes": [], "masks": [], "dual_bbox": None}
    assert [m["object_ids"] for m in by_id["q-mask-000000000"]["annotations"]["masks"]] == [[4], [5]]
    ours, _ = _export(curated, tmp_path / "ours", prompts="annotations")
    assert ours.drawn_instead == []


def test_empty_prompt_lists_are_lists_in_every_format(curated, tmp_path):
    for fmt in ("spacevista", "seed"):
        for prompts in ("drawn", "annotations"):
            _, items = _export(curated, tmp_path / f"{fmt}-{prompts}", format=fmt, prompts=prompts)
            for item in items:
                assert all(isinstance(item["annotations"][k], list) for k in ("points", "bboxes", "masks"))
            text = next(i for i in items if i["id"] == "q-text-000000000")
            assert text["annotations"] == {"points": [], "bboxes": [], "masks": [], "dual_bbox": None}


def test_hf_datasets_loads_several_exports_of_every_format_in_either_order(curated, tmp_path, monkeypatch):
    """A text-only export (every prompt list empty) and a mask export, loaded together both ways round: Parquet as
    is, JSONL / JSON / ShareGPT with the features of the export's Parquet schema (JSON cannot type an empty list)."""
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    for fmt in ("spacevista", "seed"):
        parts = {}
        for name, tiers in (("plain", ("indoor",)), ("masked", ("outdoor",))):
            report, items = _export(curated, tmp_path / fmt / name, format=fmt, prompts="annotations", tiers=tiers)
            parts[name] = (report, items)
        assert not any(i["annotations"]["masks"] for i in parts["plain"][1])
        assert any(i["annotations"]["masks"] for i in parts["masked"][1])
        features = datasets.Features.from_arrow_schema(pq.read_schema(parts["plain"][0].files["parquet"]))
        keys = ["items", "parquet", "sharegpt"] if fmt == "spacevista" else ["items", "parquet"]
        for key in keys:
            for order in (("plain", "masked"), ("masked", "plain")):
                files = [parts[name][0].files[key] for name in order]
                loader = "parquet" if key == "parquet" else "json"
                extra = {} if key in ("parquet", "sharegpt") else {"features": features}
                loaded = datasets.load_dataset(loader, data_files=files, split="train",
                                               cache_dir=str(tmp_path / "hf-cache"), **extra)
                expected = [i for name in order for i in parts[name][1]]
                if key == "sharegpt":
                    expected = [{"messages": i["messages"], "videos": i["videos"]} for i in expected]
                assert loaded.num_rows == len(expected) and loaded.to_list() == expected, (fmt, key, order)


def test_llamafactory_dataset_info_names_the_sharegpt_file_and_seed_writes_none(curated, tmp_path):
    report, items = _export(curated, tmp_path, keep_rationale=False)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert info["spacevista"]["file_name"] == "spacevista_sharegpt.json"
    sharegpt = json.loads((tmp_path / "spacevista_sharegpt.json").read_text())
    assert all(s["messages"][0]["content"].count("<video>") == len(s["videos"]) == 1 for s in sharegpt)
    seed, _ = _export(curated, tmp_path / "seed", format="seed")
    assert set(seed.files) == {"items", "parquet"} and not (tmp_path / "seed" / "dataset_info.json").exists()


def test_a_mask_whose_object_id_has_no_integer_instance_is_skipped_with_the_reason(tmp_path):
    layout = OutputLayout(tmp_path / "out")
    paths = frames(layout, 2)
    mask = put_mask(layout, np.ones((48, 64), bool))
    prompt = {**_prompt("mask", 1, 1, "red", mask_path=mask), "object_id": "scene/lamp"}
    commit_qa(layout, [mc_row("q-badid-00000000", "indoor", "existence", ["yes", "no"], "no", paths, [prompt])])
    report, items = _export(layout.root, tmp_path / "seed", format="seed")
    assert items == [] and [s.reason for s in report.skipped] == [
        "object id 'scene/lamp' does not end in a positive integer instance id, which a .npy label mask needs"]
    spacevista, _ = _export(layout.root, tmp_path / "ours", prompts="annotations")
    assert spacevista.n_items == 1


def test_the_mapping_table_covers_every_task_variant_and_names_the_authors_codes():
    rows = task_code_table()
    assert {r[0] for r in rows} == {t.value for t in TASK_CODES}
    assert {r[2] for r in rows} >= AUTHOR_CODES - {"DEPTH_all", "OBJECT_ROTATION"}
    assert task_code("size_comparison", "height/0") == "COMPARISON_HEIGHT"
    assert task_code("size_comparison", "footprint/2") == "COMPARISON_WIDTH"
    assert {CATEGORY_TIERS[name] for name in TIER_NAMES.values()} == set(TIER_NAMES) - {"drone"}


def test_the_readme_table_is_the_code_table():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    table = readme[readme.index("| task type | variant | authors' code |"):].split("\n\n")[0].splitlines()[2:]
    assert [tuple(c.strip().strip("`") for c in line.strip("|").split("|")) for line in table] == task_code_table()


def test_the_cli_writes_the_seed_format(curated, tmp_path):
    """`spacevista export --format seed`, as a user runs it (the export flow in its own process)."""
    out = tmp_path / "bench"
    proc = subprocess.run([sys.executable, "-c", "from flows.cli import main; raise SystemExit(main())", "export",
                           "--output", str(curated), "--export-dir", str(out), "--table", "benchmark",
                           "--format", "seed"], cwd=Path(__file__).parents[1], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert f"exported 11 items to {out}" in proc.stdout
    entries = AuthorsLoader(out).load(out / "spacevista.json")
    assert len(entries) == 11 and all(e.keys() == BENCH_KEYS for e in entries)
