"""Training export: SpaceVista items, ShareGPT + dataset_info.json, Parquet for HF datasets, drawn frames,
filters, scale-balanced sampling and decontamination against the benchmark registry."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from schemas.arrow import from_record, to_arrow
from schemas.benchmark import BenchmarkConfig, BenchmarkSceneRow
from schemas.export import ITEM_INPUT_TYPES, ExportConfig, SpaceVistaItem, TierBalance
from schemas.paths import source_scene_id
from schemas.qa import QARow, VisualPrompt
from schemas.tiers import ScaleTier
from storage.catalog import query
from storage.commits import commit_shard, stage_table
from storage.layout import OutputLayout
from tests.authors_eval import AuthorsLoader
from tests.flow_runner import run_flow
from tests.seed_scoring import authors_score
from training.benchmark import build_benchmark_split
from training.export import ContaminationError, ExportError, ExportReport, export_dataset, tier_targets
from training.prompts import PROMPT_BGR, draw_prompts, stroke_sizes
from training.seed_format import task_code

PLANTED = "indoor_000"
ITEM_KEYS = {"id", "input_type", "messages", "videos", "annotations", "metadata"}
ANNOTATION_KEYS = {"points", "bboxes", "masks", "dual_bbox"}
METADATA_KEYS = {"scene_source", "original_id", "category", "scale", "original_type"}


def _prompt(kind: str, coords: list[float], color: str = "red", mask_path: str | None = None) -> VisualPrompt:
    return VisualPrompt(kind=kind, frame=1, object_id="s/1", coords=coords, mask_path=mask_path, color=color)


def _textured(height: int = 120, width: int = 160) -> np.ndarray:
    return np.random.default_rng(0).integers(20, 200, size=(height, width, 3), dtype=np.uint8)


def test_drawing_changes_exactly_the_prompt_pixels():
    image = _textured()
    radius, thickness = stroke_sizes(*image.shape[:2])
    yy, xx = np.mgrid[:120, :160]

    point = draw_prompts(image, [_prompt("point", [40.0, 50.0])], {}) != image
    disk = (xx - 40) ** 2 + (yy - 50) ** 2
    assert point.any(axis=2)[disk <= (radius - 1) ** 2].all() and not point.any(axis=2)[disk > (radius + 1) ** 2].any()

    box = (draw_prompts(image, [_prompt("bbox", [30.0, 20.0, 110.0, 90.0], "green")], {}) != image).any(axis=2)
    outer = (xx >= 30 - thickness) & (xx <= 110 + thickness) & (yy >= 20 - thickness) & (yy <= 90 + thickness)
    inner = (xx > 30 + thickness) & (xx < 110 - thickness) & (yy > 20 + thickness) & (yy < 90 - thickness)
    assert not box[~outer | inner].any()
    assert box[20, 30:111].all() and box[20:91, 110].all()

    region = np.zeros((120, 160), bool)
    region[60:100, 20:70] = True
    drawn = draw_prompts(image, [_prompt("mask", [], "blue", "m.png")], {"m.png": region})
    assert ((drawn != image).any(axis=2) == region).all()
    expected = np.round(0.5 * image[region] + 0.5 * np.array(PROMPT_BGR["blue"])).astype(np.uint8)
    assert (drawn[region] == expected).all()


def test_tier_targets_follow_equal_shares_and_explicit_weights():
    available = {"tabletop": 50, "indoor": 12, "drone": 30}
    assert tier_targets(available, TierBalance()) == {"tabletop": 12, "indoor": 12, "drone": 12}
    assert tier_targets(available, TierBalance(total=30)) == {"tabletop": 10, "indoor": 10, "drone": 10}
    weighted = TierBalance(weights={"tabletop": 2, "indoor": 1, "drone": 0})
    assert tier_targets(available, weighted) == {"tabletop": 24, "indoor": 12}
    assert tier_targets(available, weighted.model_copy(update={"total": 10})) == {"tabletop": 7, "indoor": 3}
    with pytest.raises(ExportError, match="tier weights ask for outdoor, but no rows of that tier"):
        tier_targets(available, TierBalance(weights={"outdoor": 1, "indoor": 1}))
    with pytest.raises(ValueError, match="at least one > 0"):
        TierBalance(weights={"indoor": 0})


def test_an_output_root_without_a_qa_table_is_refused_and_nothing_is_written(tmp_path):
    config = ExportConfig(output_root=tmp_path / "never-curated", export_dir=tmp_path / "export")
    with pytest.raises(ExportError, match=r"no `qa` rows .*run `spacevista curate --output"):
        export_dataset(config)
    assert not (tmp_path / "never-curated").exists() and not (tmp_path / "export").exists()


@pytest.fixture(scope="module")
def planted(default_run, tmp_path_factory) -> Path:
    """A copy of the default run's output with a benchmark holding out one scene, as training exports meet it."""
    root = Path(shutil.copytree(default_run.output, tmp_path_factory.mktemp("export") / "out"))
    build_benchmark_split(BenchmarkConfig(data_root=default_run.data_root, output_root=root,
                                          held_out_scene_ids=(PLANTED,)))
    return root


def _items(report) -> list[dict]:
    return [json.loads(line) for line in Path(report.files["items"]).read_text().splitlines()]


def _qa(root: Path, sql: str, params=None) -> list[dict]:
    return query(OutputLayout(root), sql, params).to_pylist()


@pytest.mark.e2e
def test_export_writes_spacevista_items_sharegpt_and_parquet(planted, tmp_path):
    datasets = pytest.importorskip("datasets")
    report = run_flow("flows.export", "export", ExportConfig(output_root=planted, export_dir=tmp_path / "export"),
                      ExportReport, tmp_path)
    items = _items(report)
    qa = {r["qa_id"]: r for r in _qa(planted, "SELECT * FROM qa WHERE NOT starts_with(scene_id, ?)", [f"{PLANTED}@"])}
    assert report.n_items == len(items) == len(qa) > 400 and report.skipped == []
    assert {i["id"] for i in items} == set(qa)
    for item in items:
        SpaceVistaItem.model_validate(item)
        assert item.keys() == ITEM_KEYS and item["annotations"].keys() == ANNOTATION_KEYS
        assert item["metadata"].keys() == METADATA_KEYS
        row = qa[item["id"]]
        assert item["input_type"] == ITEM_INPUT_TYPES[row["input_type"]]
        user, assistant = item["messages"]
        assert (user["role"], assistant["role"]) == ("user", "assistant")
        assert user["content"] == f"<video>\n{row['question']}" and assistant["content"] == row["response"]
        assert len(item["videos"]) == 1 and len(item["videos"][0]) == len(row["frame_paths"])
        assert all((tmp_path / "export" / f).is_file() for f in item["videos"][0])
        assert item["metadata"] == {"scene_source": row["source"], "original_id": row["scene_id"],
                                    "category": row["scale"], "scale": {"tiny_tabletop": "mm", "tabletop": "cm"}.get(
                                        row["scale"], "m"), "original_type": row["task_type"]}
        assert item["annotations"] == {"points": [], "bboxes": [], "masks": [], "dual_bbox": None}
    assert {i["input_type"] for i in items} == set(ITEM_INPUT_TYPES.values())

    info = json.loads((tmp_path / "export" / "dataset_info.json").read_text())
    assert info == {"spacevista": {
        "file_name": "spacevista_sharegpt.json", "formatting": "sharegpt",
        "columns": {"messages": "messages", "videos": "videos"},
        "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}}
    sharegpt = json.loads((tmp_path / "export" / "spacevista_sharegpt.json").read_text())
    assert [{"messages": i["messages"], "videos": i["videos"]} for i in items] == sharegpt
    assert all(m["messages"][0]["content"].count("<video>") == len(m["videos"]) == 1 for m in sharegpt)

    loaded = datasets.load_dataset("parquet", data_files=report.files["parquet"], split="train",
                                   cache_dir=str(tmp_path / "hf-cache"))
    assert loaded.num_rows == len(items) and set(loaded.column_names) == ITEM_KEYS
    assert loaded.to_list() == items


@pytest.mark.e2e
def test_annotated_items_carry_every_prompt_once_on_clean_frames(planted, tmp_path):
    report = export_dataset(ExportConfig(output_root=planted, export_dir=tmp_path, prompts="annotations"))
    qa = {r["qa_id"]: r for r in _qa(planted, "SELECT qa_id, task_type, frame_paths, visual_prompts FROM qa")}
    for item in _items(report):
        row, annotations = qa[item["id"]], item["annotations"]
        kinds = [p["kind"] for p in row["visual_prompts"]]
        dual = annotations["dual_bbox"]
        assert (dual is not None) == (row["task_type"] == "object_matching" and kinds == ["bbox", "bbox"])
        assert len(annotations["points"]) == kinds.count("point")
        assert len(annotations["bboxes"]) + (2 if dual else 0) == kinds.count("bbox")
        assert [m["object_ids"] for m in annotations["masks"]] == [
            [p["object_id"]] for p in row["visual_prompts"] if p["kind"] == "mask"]
        for mask in annotations["masks"]:
            assert (tmp_path / mask["mask_path"]).is_file() and mask["image_path"] in item["videos"][0]
        assert [(tmp_path / f).read_bytes() for f in item["videos"][0]] == [
            (planted / f).read_bytes() for f in row["frame_paths"]]
    assert any(i["annotations"]["dual_bbox"] for i in _items(report))
    assert any(i["annotations"]["masks"] for i in _items(report))


@pytest.mark.e2e
def test_exported_frames_differ_from_the_originals_exactly_where_the_prompt_is(planted, tmp_path):
    report = export_dataset(ExportConfig(output_root=planted, export_dir=tmp_path, tiers=("tabletop", "drone")))
    qa = {r["qa_id"]: r for r in _qa(planted, "SELECT qa_id, frame_paths, visual_prompts FROM qa")}
    checked = set()
    for item in _items(report):
        row = qa[item["id"]]
        for frame, (original, exported) in enumerate(zip(row["frame_paths"], item["videos"][0]), start=1):
            prompts = [p for p in row["visual_prompts"] if p["frame"] == frame]
            if not prompts:
                assert (tmp_path / exported).read_bytes() == (planted / original).read_bytes()
                continue
            if len(prompts) > 1 or prompts[0]["kind"] in checked:
                continue
            before, after = cv2.imread(str(planted / original)), cv2.imread(str(tmp_path / exported))
            changed = (before != after).any(axis=2)
            expected = _prompt_region(prompts[0], before.shape[:2], planted)
            assert not changed[~expected["may"]].any(), prompts[0]
            assert changed[expected["must"]].mean() > 0.9, prompts[0]
            checked.add(prompts[0]["kind"])
    assert checked == {"point", "bbox", "mask"}
    assert len(list(tmp_path.glob("frames/*/*"))) == len({f for i in _items(report) for f in i["videos"][0]})


def _prompt_region(prompt: dict, shape: tuple[int, int], root: Path) -> dict[str, np.ndarray]:
    """Pixels the prompt may change and pixels it must change (its core, away from rounding at the edges)."""
    yy, xx = np.mgrid[:shape[0], :shape[1]]
    radius, thickness = stroke_sizes(*shape)
    if prompt["kind"] == "point":
        distance = np.hypot(xx - prompt["coords"][0], yy - prompt["coords"][1])
        return {"may": distance <= radius + 1.5, "must": distance <= radius - 1.5}
    if prompt["kind"] == "bbox":
        x1, y1, x2, y2 = (round(v) for v in prompt["coords"])
        def inside(margin):
            return (xx >= x1 - margin) & (xx <= x2 + margin) & (yy >= y1 - margin) & (yy <= y2 + margin)
        return {"may": inside(thickness) & ~inside(-thickness - 1), "must": inside(0) & ~inside(-1)}
    mask = cv2.imread(str(root / prompt["mask_path"]), cv2.IMREAD_GRAYSCALE) > 127
    return {"may": mask, "must": mask}


@pytest.mark.e2e
def test_rationale_drop_filters_and_scale_balanced_sampling(planted, tmp_path):
    plain = export_dataset(ExportConfig(output_root=planted, export_dir=tmp_path / "a", keep_rationale=False,
                                        tiers=("indoor", "drone"), answer_types=("numeric",)))
    expected = _qa(planted, "SELECT scale, count(*) AS n FROM qa WHERE scale IN ('indoor', 'drone') AND "
                            "answer.kind = 'numeric' AND NOT starts_with(scene_id, ?) GROUP BY 1", [f"{PLANTED}@"])
    assert {t: (c.taken, c.exported) for t, c in plain.per_tier.items()} == {
        r["scale"]: (r["n"], r["n"]) for r in expected}
    responses = {r["qa_id"]: r["response"] for r in _qa(planted, "SELECT qa_id, response FROM qa")}
    for item in _items(plain):
        answer = item["messages"][1]["content"]
        assert re.fullmatch(r"<answer>[^<]+</answer>", answer) and responses[item["id"]].endswith("\n" + answer)
        assert item["metadata"]["category"] in {"indoor", "drone"}

    tasks = ("object_size", "depth_estimation")
    balanced = export_dataset(ExportConfig(output_root=planted, export_dir=tmp_path / "b", tasks=tasks,
                                           balance=TierBalance(seed=3)))
    available = {r["scale"]: r["n"] for r in _qa(planted, "SELECT scale, count(*) AS n FROM qa WHERE task_type IN "
                                                          "(?, ?) AND NOT starts_with(scene_id, ?) GROUP BY 1",
                                                 [*tasks, f"{PLANTED}@"])}
    share = min(available.values())
    assert {t: (c.available, c.taken) for t, c in balanced.per_tier.items()} == {
        t: (n, share) for t, n in available.items()}
    items = _items(balanced)
    assert len(items) == 5 * share and {i["metadata"]["original_type"] for i in items} <= set(tasks)

    weights = TierBalance(weights={"tiny_tabletop": 3, "drone": 1}, total=20, seed=3)
    weighted = export_dataset(ExportConfig(output_root=planted, export_dir=tmp_path / "c", balance=weights))
    assert {t: c.taken for t, c in weighted.per_tier.items() if c.taken} == {"tiny_tabletop": 15, "drone": 5}
    again = export_dataset(ExportConfig(output_root=planted, export_dir=tmp_path / "d", balance=weights))
    reseeded = export_dataset(ExportConfig(output_root=planted, export_dir=tmp_path / "e",
                                           balance=weights.model_copy(update={"seed": 4})))
    ids = [{i["id"] for i in _items(r)} for r in (weighted, again, reseeded)]
    assert ids[0] == ids[1] != ids[2]


@pytest.mark.e2e
def test_a_benchmark_scene_planted_in_a_training_request_is_dropped_and_reported_or_refused(planted, tmp_path):
    scene_rows = _qa(planted, "SELECT qa_id, video_id FROM qa WHERE starts_with(scene_id, ?) ORDER BY qa_id",
                     [f"{PLANTED}@"])
    report = export_dataset(ExportConfig(output_root=planted, export_dir=tmp_path / "drop", tiers=("indoor",)))
    assert report.registry_scenes == 1
    assert report.contamination.n_rows == len(scene_rows) > 0
    assert [source_scene_id(s) for s in report.contamination.scene_ids] == [PLANTED]
    assert report.contamination.video_ids == [scene_rows[0]["video_id"]]
    assert sorted(report.contamination.qa_ids) == [r["qa_id"] for r in scene_rows]
    exported = _items(report)
    assert not any(source_scene_id(i["metadata"]["original_id"]) == PLANTED for i in exported)
    assert report.per_tier["indoor"].available == len(_qa(planted, "SELECT 1 FROM qa WHERE scale = 'indoor'")) - len(
        scene_rows)

    refused = (rf"{len(scene_rows)} requested rows come from benchmark scenes {PLANTED}@[0-9a-f]{{8}} "
               rf"\(videos {scene_rows[0]['video_id'][:12]}\)")
    with pytest.raises(ContaminationError, match=refused):
        export_dataset(ExportConfig(output_root=planted, export_dir=tmp_path / "refuse", refuse_contaminated=True))
    assert not (tmp_path / "refuse" / "spacevista.jsonl").exists()
    clean = export_dataset(ExportConfig(output_root=planted, export_dir=tmp_path / "clean", tiers=("drone",),
                                        refuse_contaminated=True))
    assert clean.contamination.n_rows == 0 and clean.n_items > 0


@pytest.mark.e2e
def test_a_renamed_benchmark_video_is_caught_by_its_content_hash(planted, tmp_path):
    """A registry elsewhere lists the same video under another scene id: the video hash alone matches."""
    (video,) = _qa(planted, "SELECT video_id, scale FROM scenes WHERE starts_with(scene_id, 'tabletop_001@')")
    other = OutputLayout(tmp_path / "other-benchmark")
    row = BenchmarkSceneRow(scene_id="renamed_scene", video_id=video["video_id"], uri="x/video.mp4",
                            scale=video["scale"], source="synthetic", selection="explicit", n_qa=1, run_id="b")
    commit_shard(other, "benchmark_scenes", "r",
                 stage_table(other, "benchmark_scenes", to_arrow([row], BenchmarkSceneRow), "r"), "b")
    report = export_dataset(ExportConfig(output_root=planted, export_dir=tmp_path / "x", tiers=("tabletop",),
                                         benchmark_root=other.root, refuse_contaminated=False))
    assert [source_scene_id(s) for s in report.contamination.scene_ids] == ["tabletop_001"]
    assert report.contamination.n_rows > 0
    assert {source_scene_id(i["metadata"]["original_id"]) for i in _items(report)} == {"tabletop_000"}


@pytest.mark.e2e
def test_a_missing_mask_skips_its_rows_with_the_reason_and_the_rest_is_exported(planted, tmp_path):
    root = Path(shutil.copytree(planted, tmp_path / "out"))
    rows = _qa(root, "SELECT qa_id, visual_prompts FROM qa WHERE scale = 'outdoor'")
    mask = next(p["mask_path"] for r in rows for p in r["visual_prompts"] if p["mask_path"])
    (root / mask).unlink()
    users = {r["qa_id"] for r in rows if any(p["mask_path"] == mask for p in r["visual_prompts"])}
    report = export_dataset(ExportConfig(output_root=root, export_dir=tmp_path / "export", tiers=("outdoor",)))
    assert {s.qa_id for s in report.skipped} == users
    assert all(s.reason == f"mask {mask} is missing under {root}" for s in report.skipped)
    assert report.n_items == report.per_tier["outdoor"].exported == len(rows) - len(users) > 0
    assert report.per_tier["outdoor"].taken == len(rows)
    assert {i["id"] for i in _items(report)} == {r["qa_id"] for r in rows} - users


@pytest.fixture(scope="module")
def benchmark_all_tiers(default_run, tmp_path_factory) -> Path:
    """A copy of the default run's output with a benchmark holding out the first scene of every tier."""
    root = Path(shutil.copytree(default_run.output, tmp_path_factory.mktemp("bench") / "out"))
    build_benchmark_split(BenchmarkConfig(data_root=default_run.data_root, output_root=root,
                                          held_out_scene_ids=tuple(f"{t.value}_000" for t in ScaleTier)))
    return root


@pytest.mark.e2e
def test_the_authors_evaluator_reads_and_scores_every_item_of_the_seed_benchmark(benchmark_all_tiers, tmp_path):
    """0 crashes over the whole benchmark; a perfect answer scores 1; the authors' loader draws every annotation in
    the colour the question names but the object-matching target (blue for green); items it would recolour otherwise
    come drawn."""
    report = export_dataset(ExportConfig(output_root=benchmark_all_tiers, export_dir=tmp_path, table="benchmark",
                                         format="seed"))
    rows = {r["qa_id"]: from_record(r, QARow) for r in _qa(benchmark_all_tiers, "SELECT * FROM benchmark")}
    loader = AuthorsLoader(tmp_path)
    entries = loader.load(Path(report.files["items"]))
    assert len(entries) == len(rows) == report.n_items > 50 and report.skipped == []
    crashes, scores = [], []
    for entry in entries:
        try:
            loader.frames(entry)
            result = loader.result(entry, f"<think>…</think>\n<answer>{entry['answer']}</answer>")
            scores.append(authors_score(result["ground_truth"], result["predicted_answer"]))
        except Exception as err:  # noqa: BLE001 (counting crashes is the point)
            crashes.append((entry["id"], repr(err)))
    assert crashes == [] and scores == [1.0] * len(entries)
    assert {e["metadata"]["category"] for e in entries} == {"TinyTabletop", "Tabletop", "Indoor", "Outdoor"}
    assert [e["metadata"]["original_type"] for e in entries] == [
        task_code(rows[e["id"]].task_type, rows[e["id"]].template_id) for e in entries]
    assert any(e["annotations"]["dual_bbox"] for e in entries)
    for entry in entries:
        prompts = rows[entry["id"]].visual_prompts
        for mask in entry["annotations"]["masks"]:
            labels = np.load(tmp_path / mask["mask_path"], allow_pickle=False)
            assert labels.dtype.kind == "u" and (labels == mask["object_ids"][0]).any()
            assert mask["object_ids"][0] in {int(p.object_id.split("/")[-1]) for p in prompts if p.kind == "mask"}
        annotated = any(entry["annotations"][k] for k in ("points", "bboxes", "masks", "dual_bbox"))
        assert annotated == (bool(prompts) and entry["id"] not in report.drawn_instead)
        named = sorted(p.color for p in prompts) if annotated else []
        if entry["annotations"]["dual_bbox"]:
            assert named == ["green", "red"] and sorted(loader.colours(entry)) == ["blue", "red"]
        else:
            assert sorted(loader.colours(entry)) == named
    assert len(report.drawn_instead) < len(entries) / 5
