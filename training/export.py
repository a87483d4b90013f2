"""Export curated QA in one of two formats, with the frames and masks the items point to.

- spacevista: items JSONL + Parquet, ShareGPT + LLaMA-Factory dataset_info.json; frames with the prompts drawn.
- seed: the SpaceVista authors' items (their SpaceVista-Full `all.json`, or SpaceVista-Bench with top-level
  question / answer / unit for the `benchmark` table) as a JSON array + Parquet; clean frames, prompts in
  `annotations` (points [y, x], masks as .npy label arrays with integer ids) for their loaders to draw.

Frames come drawn with empty annotations, or clean with annotations, never both (ExportConfig.prompts).
Each item's frames form one video: the user turn carries a single `<video>` placeholder and `videos` holds one list
of frame files. LLaMA-Factory's multimodal plugin requires as many `<video>` tags in the text as entries in
`videos`, and takes a video given as a list of image files as already-sampled frames; `<image>` tags would need an
`images` column and would encode every frame as a separate image, losing the video's temporal merging.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import uuid
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from schemas.arrow import arrow_schema, from_record, to_arrow
from schemas.export import (ITEM_INPUT_TYPES, BoxAnnotation, DualBoxAnnotation, ExportConfig, ItemAnnotations,
                            ItemMetadata, MaskAnnotation, Message, PointAnnotation, SeedAnnotations, SeedBenchItem,
                            SeedItem, SeedMaskAnnotation, SeedMetadata, SpaceVistaItem, TierBalance)
from schemas.paths import OutsideDataRootError, inside_root
from schemas.qa import QARow, TaskType, VisualPrompt
from schemas.tiers import TIER_SPECS, ScaleTier
from storage.catalog import query
from storage.commits import read_manifest
from storage.layout import OutputLayout
from training.benchmark import read_registry
from training.prompts import PROMPT_BGR, draw_prompts
from training.seed_format import TIER_NAMES, authors_draw_as_named, in_palette_order, seed_answer, task_code

VIDEO_PLACEHOLDER = "<video>"
BATCH_ROWS = 1024
_ENCODE_PARAMS = {".png": [], ".jpg": [cv2.IMWRITE_JPEG_QUALITY, 95]}
_ANSWER = re.compile(r"(?s)<answer>(.+)</answer>\s*$")


class ExportError(RuntimeError):
    """The export cannot run as configured; the message names the input and the fix."""


class ContaminationError(ExportError):
    """Rows of benchmark scenes were requested for a training export with refuse_contaminated=True."""


class ItemError(ValueError):
    """One row cannot be exported (a missing frame or mask, an unknown colour); the row is skipped."""


class _Report(BaseModel):
    model_config = ConfigDict(frozen=True)


class TierCount(_Report):
    """Rows of a tier after filters and decontamination, drawn by the balance, and written as items."""

    available: int
    taken: int
    exported: int


class SkippedRow(_Report):
    qa_id: str
    reason: str


class Contamination(_Report):
    """Rows dropped because their scene or video is registered in the benchmark."""

    n_rows: int
    scene_ids: list[str]
    video_ids: list[str]
    qa_ids: list[str]


class ExportReport(_Report):
    export_dir: str
    n_items: int
    per_tier: dict[str, TierCount]
    registry_scenes: int
    contamination: Contamination
    skipped: list[SkippedRow]
    media_files_written: int
    files: dict[str, str]
    drawn_instead: list[str] = Field(
        default=[], description="seed items delivered drawn although annotations were asked for: the authors' "
                                "loader would draw a prompt in another colour than the question names")


def export_dataset(config: ExportConfig) -> ExportReport:
    """Filter, decontaminate and balance the table's rows, then write items, frames and dataset_info.json."""
    layout = OutputLayout(config.output_root)
    if not read_manifest(layout, config.table)["files"]:
        raise ExportError(f"{layout.root}: no `{config.table}` rows (nothing committed under "
                          f"{layout.table_dir(config.table)})"
                          f"; run `spacevista curate --output {layout.root}` first"
                          + ("" if config.table == "qa" else " and build the benchmark"))
    rows = _filtered(layout, config)
    registry = read_registry(OutputLayout(config.benchmark_root or config.output_root)) if config.table == "qa" else []
    rows, contamination = _decontaminate(rows, registry, config.refuse_contaminated)
    available = _tier_counts(rows)
    if config.balance is not None:
        rows = _balanced(rows, config.balance)
    taken = _tier_counts(rows)
    writer = _ExportWriter(layout, config)
    skipped = []
    try:
        for record in _records(rows):
            try:
                writer.add(from_record(record, QARow))
            except (ValidationError, ItemError, OutsideDataRootError) as err:
                skipped.append(SkippedRow(qa_id=record["qa_id"], reason=_reason(err)))
        files = writer.close()
    except BaseException:
        writer.abort()
        raise
    return ExportReport(
        export_dir=str(config.export_dir), n_items=writer.n_items,
        per_tier={t: TierCount(available=n, taken=taken.get(t, 0), exported=writer.per_tier[t])
                  for t, n in available.items()},
        registry_scenes=len(registry), contamination=contamination, skipped=skipped,
        media_files_written=writer.frames.written, files=files, drawn_instead=writer.drawn_instead)


def tier_targets(available: dict[str, int], balance: TierBalance) -> dict[str, int]:
    """Rows to take per tier: shares from the weights (equal over the tiers present by default), rounded by
    largest remainder, never more than a tier has."""
    weights = ({t.value: w for t, w in balance.weights.items() if w > 0} if balance.weights is not None
               else {t: 1.0 for t, n in available.items() if n > 0})
    empty = sorted(t for t in weights if available.get(t, 0) == 0)
    if empty:
        raise ExportError(f"tier weights ask for {', '.join(empty)}, but no rows of "
                          f"{'that tier' if len(empty) == 1 else 'those tiers'} pass the filters")
    shares = {t: w / sum(weights.values()) for t, w in weights.items()}
    total = balance.total if balance.total is not None else int(min(available[t] / s for t, s in shares.items())
                                                                + 1e-9)
    exact = {t: total * s for t, s in shares.items()}
    targets = {t: int(v) for t, v in exact.items()}
    by_remainder = sorted(shares, key=lambda t: (-(exact[t] - targets[t]), t))
    for t in by_remainder[:total - sum(targets.values())]:
        targets[t] += 1
    return {t: min(n, available[t]) for t, n in targets.items()}


def _filtered(layout: OutputLayout, config: ExportConfig) -> pa.Table:
    clauses, params = [], []
    for column, values in (("scale", config.tiers), ("task_type", config.tasks), ("answer.kind", config.answer_types)):
        if values is not None:
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(getattr(v, "value", v) for v in values)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return query(layout, f"SELECT * FROM {config.table}{where} ORDER BY qa_id", params)


def _decontaminate(rows: pa.Table, registry: list, refuse: bool) -> tuple[pa.Table, Contamination]:
    scenes = pa.array(sorted({r.scene_id for r in registry}), pa.string())
    videos = pa.array(sorted({r.video_id for r in registry}), pa.string())
    hit = pc.or_(pc.is_in(rows["scene_id"], value_set=scenes), pc.is_in(rows["video_id"], value_set=videos))
    dirty = rows.filter(hit)
    contamination = Contamination(n_rows=dirty.num_rows,
                                  scene_ids=sorted(set(dirty["scene_id"].to_pylist())),
                                  video_ids=sorted(set(dirty["video_id"].to_pylist())),
                                  qa_ids=dirty["qa_id"].to_pylist())
    if dirty.num_rows and refuse:
        raise ContaminationError(
            f"{dirty.num_rows} requested rows come from benchmark scenes {', '.join(contamination.scene_ids)} "
            f"(videos {', '.join(v[:12] for v in contamination.video_ids)}); refusing to export them for training "
            f"(set refuse_contaminated=False to drop them instead)")
    return rows.filter(pc.invert(hit)), contamination


def _tier_counts(rows: pa.Table) -> dict[str, int]:
    counts = pc.value_counts(rows["scale"]).to_pylist()
    return {c["values"]: c["counts"] for c in sorted(counts, key=lambda c: [t.value for t in ScaleTier].index(
        c["values"]))}


def _balanced(rows: pa.Table, balance: TierBalance) -> pa.Table:
    """Sample each tier's target without replacement; a tier's draw depends only on the seed and the tier."""
    scale = np.asarray(rows["scale"].to_pylist())
    chosen = []
    for tier, n in tier_targets(_tier_counts(rows), balance).items():
        members = np.flatnonzero(scale == tier)
        rng = np.random.default_rng([balance.seed, [t.value for t in ScaleTier].index(tier)])
        chosen.append(rng.choice(members, size=n, replace=False))
    order = np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=int)
    return rows.take(pa.array(order, pa.int64()))


def _records(rows: pa.Table) -> Iterator[dict]:
    for start in range(0, rows.num_rows, BATCH_ROWS):
        yield from rows.slice(start, BATCH_ROWS).to_pylist()


class _FrameStore:
    """Frames and masks copied into the export under content-addressed names (same bytes → one file)."""

    def __init__(self, layout: OutputLayout, export_dir: Path, drawn_format: str):
        self.layout, self.export_dir, self.drawn_format = layout, export_dir, drawn_format
        self.written = 0
        self._frames: dict[tuple, str] = {}
        self._shapes: dict[str, tuple[int, int]] = {}

    def frame(self, source: str, prompts: list[VisualPrompt]) -> str:
        """The export path of a frame with `prompts` drawn on it (the original bytes when there are none)."""
        key = (source, tuple(p.model_dump_json() for p in prompts))
        if key not in self._frames:
            path = self._source(source, "frame")
            if not prompts:
                self._frames[key] = self._put(path.read_bytes(), path.suffix)
            else:
                image = self._image(source)
                masks = {p.mask_path: self._mask_array(p, image.shape[:2]) for p in prompts if p.kind == "mask"}
                suffix = f".{self.drawn_format}"
                ok, encoded = cv2.imencode(suffix, draw_prompts(image, prompts, masks), _ENCODE_PARAMS[suffix])
                if not ok:
                    raise ItemError(f"frame {source}: could not encode the drawn frame as {suffix}")
                self._frames[key] = self._put(encoded.tobytes(), suffix)
        return self._frames[key]

    def mask(self, prompt: VisualPrompt) -> str:
        """The export path of the prompt's binary PNG mask, as curated."""
        path = self._source(self._mask_path(prompt), "mask")
        return self._put(path.read_bytes(), path.suffix, kind="masks")

    def label_mask(self, prompt: VisualPrompt, frame_source: str) -> tuple[str, int]:
        """The export path of the prompt's mask as a `.npy` label array of its frame's size (the object's pixels
        hold its instance id, the rest 0), and that id."""
        instance = _instance_id(prompt.object_id)
        if frame_source not in self._shapes:
            self._shapes[frame_source] = self._image(frame_source).shape[:2]
        labels = self._mask_array(prompt, self._shapes[frame_source]).astype(np.min_scalar_type(instance)) * instance
        buffer = io.BytesIO()
        np.save(buffer, labels, allow_pickle=False)
        return self._put(buffer.getvalue(), ".npy", kind="masks"), instance

    def _image(self, source: str) -> np.ndarray:
        image = cv2.imread(str(self._source(source, "frame")), cv2.IMREAD_COLOR)
        if image is None:
            raise ItemError(f"frame {source} is not a readable image")
        return image

    def _mask_array(self, prompt: VisualPrompt, shape: tuple[int, int]) -> np.ndarray:
        mask_path = self._mask_path(prompt)
        mask = cv2.imread(str(self._source(mask_path, "mask")), cv2.IMREAD_GRAYSCALE)
        if mask is None or mask.shape != shape:
            raise ItemError(f"mask {mask_path} is unreadable or not {shape[1]}×{shape[0]} like its frame")
        return mask > 127

    @staticmethod
    def _mask_path(prompt: VisualPrompt) -> str:
        if prompt.mask_path is None:
            raise ItemError(f"mask prompt for {prompt.object_id} has no mask_path")
        return prompt.mask_path

    def _source(self, rel: str, what: str) -> Path:
        path = inside_root(self.layout.local_root, self.layout.local_root / rel)
        if not path.is_file():
            raise ItemError(f"{what} {rel} is missing under {self.layout.root}")
        return path

    def _put(self, data: bytes, suffix: str, kind: str = "frames") -> str:
        sha = hashlib.sha256(data).hexdigest()
        rel = f"{kind}/{sha[:2]}/{sha}{suffix}"
        path = self.export_dir / rel
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
            self.written += 1
        return rel


class _Sink(ABC):
    """One output file, written under a temporary name and published by one rename."""

    def __init__(self, path: Path):
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.tmp")

    @abstractmethod
    def write(self, item: BaseModel) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    def publish(self) -> None:
        os.replace(self.tmp, self.path)

    def abort(self) -> None:
        self.close()
        self.tmp.unlink(missing_ok=True)


class _JsonLines(_Sink):
    def __init__(self, path: Path, render: Callable[[BaseModel], str]):
        super().__init__(path)
        self.render, self.handle = render, open(self.tmp, "w", encoding="utf-8")

    def write(self, item: BaseModel) -> None:
        self.handle.write(self.render(item) + "\n")

    def close(self) -> None:
        self.handle.close()


class _JsonArray(_JsonLines):
    """A JSON array, one element a line (LLaMA-Factory's ShareGPT file; the authors' bench and all.json)."""

    def __init__(self, path: Path, render: Callable[[BaseModel], str]):
        super().__init__(path, render)
        self.handle.write("[")
        self.n = 0

    def write(self, item: BaseModel) -> None:
        self.handle.write(("," if self.n else "") + "\n" + self.render(item))
        self.n += 1

    def close(self) -> None:
        if not self.handle.closed:
            self.handle.write("\n]\n")
        super().close()


class _Parquet(_Sink):
    def __init__(self, path: Path, model: type[BaseModel]):
        super().__init__(path)
        self.model = model
        self.writer = pq.ParquetWriter(self.tmp, arrow_schema(model), compression="zstd")
        self.batch: list[BaseModel] = []

    def write(self, item: BaseModel) -> None:
        self.batch.append(item)
        if len(self.batch) >= BATCH_ROWS:
            self._flush()

    def close(self) -> None:
        self._flush()
        self.writer.close()

    def _flush(self) -> None:
        if self.batch:
            self.writer.write_table(to_arrow(self.batch, self.model))
            self.batch = []


class _ExportWriter:
    """Streams items into the format's files (temporary names until close)."""

    def __init__(self, layout: OutputLayout, config: ExportConfig):
        self.config = config
        self.frames = _FrameStore(layout, config.export_dir, config.drawn_frame_format)
        self.n_items = 0
        self.per_tier: Counter = Counter()
        config.export_dir.mkdir(parents=True, exist_ok=True)
        self.sinks = _sinks(config)
        self.drawn_instead: list[str] = []

    def add(self, row: QARow) -> None:
        item = self._item(row)
        for sink in self.sinks.values():
            sink.write(item)
        self.n_items += 1
        self.per_tier[row.scale.value] += 1

    def close(self) -> dict[str, str]:
        """Publish the files (each in one rename) and, for the spacevista format, its dataset_info.json entry."""
        for sink in self.sinks.values():
            sink.close()
        for sink in self.sinks.values():
            sink.publish()
        files = {key: str(sink.path) for key, sink in self.sinks.items()}
        if "sharegpt" in self.sinks:
            info_path = self.config.export_dir / "dataset_info.json"
            info = json.loads(info_path.read_text()) if info_path.exists() else {}
            info[self.config.dataset_name] = dataset_info_entry(self.sinks["sharegpt"].path.name)
            tmp = info_path.with_name(f".{info_path.name}.{uuid.uuid4().hex[:8]}.tmp")
            tmp.write_text(json.dumps(info, indent=2) + "\n")
            os.replace(tmp, info_path)
            files["dataset_info"] = str(info_path)
        return files

    def abort(self) -> None:
        """Remove the unpublished files; what an earlier export published stays as it was."""
        for sink in self.sinks.values():
            sink.abort()

    def _item(self, row: QARow) -> SpaceVistaItem | SeedItem:
        unknown = sorted({p.color for p in row.visual_prompts} - set(PROMPT_BGR))
        if unknown:
            raise ItemError(f"visual prompt colour {', '.join(unknown)} has no drawing colour")
        drawn = self.config.prompt_mode == "drawn" or (
            self.config.format == "seed" and not authors_draw_as_named(row.visual_prompts))
        if drawn and self.config.prompt_mode == "annotations" and row.visual_prompts:
            self.drawn_instead.append(row.qa_id)
        frames = [self.frames.frame(path, [p for p in row.visual_prompts if p.frame == k] if drawn else [])
                  for k, path in enumerate(row.frame_paths, start=1)]
        answer = row.response if self.config.keep_rationale else f"<answer>{_answer_text(row)}</answer>"
        common = {"id": row.qa_id, "input_type": ITEM_INPUT_TYPES[row.input_type],
                  "messages": [Message(role="user", content=f"{VIDEO_PLACEHOLDER}\n{row.question}"),
                               Message(role="assistant", content=answer)],
                  "videos": [frames]}
        prompts = [] if drawn else row.visual_prompts
        if self.config.format == "spacevista":
            return SpaceVistaItem(
                **common, annotations=self._annotations(row, prompts, frames),
                metadata=ItemMetadata(scene_source=row.source, original_id=row.scene_id, category=row.scale,
                                      scale=TIER_SPECS[row.scale].length_unit.value, original_type=row.task_type))
        seed = {**common, "annotations": self._seed_annotations(row, prompts, frames),
                "metadata": SeedMetadata(scene_source=row.scene_id, original_id=f"{row.source}/{row.scene_id}",
                                         category=TIER_NAMES[row.scale],
                                         scale=TIER_SPECS[row.scale].length_unit.value,
                                         original_type=task_code(row.task_type, row.template_id))}
        if self.config.table == "benchmark":
            answer_text, unit = seed_answer(row.answer)
            return SeedBenchItem(**seed, question=row.question, answer=answer_text, unit=unit)
        return SeedItem(**seed)

    def _annotations(self, row: QARow, prompts: list[VisualPrompt], frames: list[str]) -> ItemAnnotations:
        masks = [MaskAnnotation(image_path=frames[image_index(p)], mask_path=self.frames.mask(p),
                                object_ids=[p.object_id]) for p in prompts if p.kind == "mask"]
        return ItemAnnotations(**_points_and_boxes(row, prompts, frames, point_order=(0, 1)), masks=masks)

    def _seed_annotations(self, row: QARow, prompts: list[VisualPrompt], frames: list[str]) -> SeedAnnotations:
        masks = []
        for p in in_palette_order(prompts):
            if p.kind == "mask":
                mask_path, instance = self.frames.label_mask(p, row.frame_paths[image_index(p)])
                masks.append(SeedMaskAnnotation(image_path=frames[image_index(p)], mask_path=mask_path,
                                                object_ids=[instance]))
        return SeedAnnotations(**_points_and_boxes(row, prompts, frames, point_order=(1, 0)), masks=masks)


def _sinks(config: ExportConfig) -> dict[str, _Sink]:
    name, out = config.dataset_name, config.export_dir
    if config.format == "seed":
        model = SeedBenchItem if config.table == "benchmark" else SeedItem
        return {"items": _JsonArray(out / f"{name}.json", lambda item: item.model_dump_json()),
                "parquet": _Parquet(out / f"{name}.parquet", model)}
    return {"items": _JsonLines(out / f"{name}.jsonl", lambda item: item.model_dump_json()),
            "sharegpt": _JsonArray(out / f"{name}_sharegpt.json", lambda item: json.dumps(
                {"messages": [m.model_dump() for m in item.messages], "videos": item.videos}, ensure_ascii=False)),
            "parquet": _Parquet(out / f"{name}.parquet", SpaceVistaItem)}


def _points_and_boxes(row: QARow, prompts: list[VisualPrompt], frames: list[str],
                      point_order: tuple[int, int]) -> dict:
    """Points (coords in `point_order` of [x, y]), boxes, and object matching's two boxes as the dual_bbox."""
    points = [PointAnnotation(coords=[p.coords[i] for i in point_order], image_index=image_index(p), color=p.color)
              for p in prompts if p.kind == "point"]
    boxes = [p for p in prompts if p.kind == "bbox"]
    if row.task_type is TaskType.OBJECT_MATCHING and len(boxes) == 2:
        source, target = boxes
        return {"points": points, "bboxes": [], "dual_bbox": DualBoxAnnotation(
            source_image=frames[image_index(source)], source_bbox=source.coords,
            target_image=frames[image_index(target)], target_bboxes=[target.coords])}
    return {"points": points, "dual_bbox": None,
            "bboxes": [BoxAnnotation(coords=p.coords, image_index=image_index(p), color=p.color) for p in boxes]}


def image_index(prompt: VisualPrompt) -> int:
    """The public item's `image_index` of a prompt's frame: its 0-based place in `videos[0]`, so frame k (as the
    question and QARow number it) is image_index k - 1. The one place an export turns one numbering into the
    other: SPEC.md "Formats" fixes the field, and the authors' loaders and evaluator index their frames with it."""
    return prompt.frame - 1


def _instance_id(object_id: str) -> int:
    """The integer instance id of a '<scene_id>/<instance_id>' object id."""
    instance = object_id.rsplit("/", 1)[-1]
    if not instance.isdigit() or int(instance) < 1:
        raise ItemError(f"object id {object_id!r} does not end in a positive integer instance id, which a .npy "
                        f"label mask needs")
    return int(instance)


def dataset_info_entry(file_name: str) -> dict:
    """LLaMA-Factory's dataset_info.json entry for the ShareGPT file (OpenAI-style role/content messages)."""
    return {"file_name": file_name, "formatting": "sharegpt",
            "columns": {"messages": "messages", "videos": "videos"},
            "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant"}}


def _answer_text(row: QARow) -> str:
    match = _ANSWER.search(row.response)
    if match is None:
        raise ItemError(f"response has no trailing <answer>…</answer>: {row.response[-60:]!r}")
    return match.group(1)


def _reason(err: Exception) -> str:
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        return f"invalid row: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    return str(err)
