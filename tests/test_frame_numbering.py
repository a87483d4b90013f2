"""One frame numbering: on a curated row with a visual prompt, the frame its question names, the prompt's `frame`,
the image the model's prompt draws it on and the image every export places its annotation on are one image, the
keyframe whose video frame number `video_frame_numbers` gives (docs/ARCHITECTURE.md "Frame numbering")."""

from __future__ import annotations

import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from pydantic import ValidationError

from pipeline.shard import curate_shard, plan_shards
from schemas.arrow import from_record
from schemas.config import CurateConfig
from schemas.export import ExportConfig
from schemas.qa import QARow
from schemas.tiers import ScaleTier
from sources import registry
from sources.synthetic import RenderSettings, generate_scene
from sources.video_decode import decode_frames
from storage.catalog import query
from storage.commits import commit_shard
from storage.layout import OutputLayout
from storage.tables import SHARD_TABLES
from training.export import export_dataset
from training.prompts import qa_prompt

STRIDE = 2
"""Keyframes are video frames 0, 2, 4…: frame k of a question is video frame 2(k - 1), so mixing the numberings up
names another image."""


@pytest.fixture(scope="module")
def curated(tmp_path_factory) -> tuple[OutputLayout, Path, list[QARow]]:
    """One rendered tabletop scene (10 frames) curated and committed: its layout, video and QA rows."""
    base = tmp_path_factory.mktemp("frames")
    root, layout = base / "data", OutputLayout(base / "out")
    scene = generate_scene(ScaleTier.TABLETOP, 5, root / "table", settings=RenderSettings(num_frames=10))
    config = CurateConfig(data_root=root, output_root=layout.root, keyframe_stride=STRIDE)
    for shard in plan_shards(registry.discover(root), 5, root):
        result = curate_shard(shard, config, "run-frames")
        for table in SHARD_TABLES:
            commit_shard(layout, table, shard.shard_id, [s for s in result.staged if s.table == table], "run-frames")
    rows = [from_record(r, QARow) for r in query(layout, "SELECT * FROM qa ORDER BY qa_id").to_pylist()]
    return layout, scene / "video.mp4", rows


def _prompted(rows: list[QARow]) -> list[QARow]:
    """Rows with one point or box prompt on a frame other than the first, named in the question as "frame k"."""
    return [r for r in rows if len(r.visual_prompts) == 1 and r.visual_prompts[0].kind in ("point", "bbox")
            and r.visual_prompts[0].frame > 1]


def test_the_frame_a_question_names_is_its_prompts_frame_and_that_keyframe_of_the_video(curated):
    layout, video, rows = curated
    prompted = _prompted(rows)
    assert prompted, "no curated row with a prompt beyond frame 1"
    for row in prompted:
        (prompt,) = row.visual_prompts
        named = {int(k) for k in re.findall(r"\bframe (\d+)", row.question)}
        assert prompt.frame in named, (row.question, prompt.frame)
        assert row.video_frame_numbers == list(range(0, STRIDE * len(row.frame_paths), STRIDE))
        assert prompt.frame in row.named_frames
    row = prompted[0]
    k = row.visual_prompts[0].frame
    stored = cv2.cvtColor(cv2.imread(str(layout.local_root / row.frame_paths[k - 1])), cv2.COLOR_BGR2RGB)
    decoded = decode_frames(video, row.video_frame_numbers)
    error = [float(np.abs(stored.astype(float) - frame.astype(float)).mean()) for frame in decoded]
    assert int(np.argmin(error)) == k - 1, error  # frame k is video frame video_frame_numbers[k - 1]


def test_the_models_prompt_draws_the_prompt_on_frame_k_only(curated):
    layout, _, rows = curated
    row = _prompted(rows)[0]
    k = row.visual_prompts[0].frame
    drawn = qa_prompt(row, layout).frames_jpeg
    clean = qa_prompt(row, layout, draw_visual_prompts=False).frames_jpeg
    assert [n for n, (a, b) in enumerate(zip(drawn, clean), start=1) if a != b] == [k]


@pytest.mark.parametrize("fmt", ["spacevista", "seed"])
def test_every_export_places_the_annotation_on_the_image_of_frame_k(curated, tmp_path, fmt):
    layout, _, rows = curated
    prompted = {r.qa_id: r for r in _prompted(rows)}
    report = export_dataset(ExportConfig(output_root=layout.root, export_dir=tmp_path, format=fmt,
                                         prompts="annotations"))
    path = Path(report.files["items"])
    items = json.loads(path.read_text()) if fmt == "seed" else [json.loads(line) for line in path.open()]
    checked = 0
    for item in items:
        row, annotations = prompted.get(item["id"]), item["annotations"]["points"] + item["annotations"]["bboxes"]
        if row is None or not annotations:  # not a prompted row, or one the seed export delivers drawn
            continue
        (prompt,), (annotation,) = row.visual_prompts, annotations
        assert annotation["image_index"] == prompt.frame - 1  # the public format's 0-based place in videos[0]
        exported = tmp_path / item["videos"][0][annotation["image_index"]]
        assert exported.read_bytes() == (layout.local_root / row.frame_paths[prompt.frame - 1]).read_bytes()
        checked += 1
    assert checked


def test_a_row_naming_a_frame_it_does_not_show_is_refused(curated):
    _, _, rows = curated
    row = next(r for r in rows if "video_frame" in r.query)
    shown = row.video_frame_numbers
    assert shown.index(int(row.query["video_frame"])) + 1 in row.named_frames
    for unshown in (shown[0] + 1, max(shown) + 2):  # between two keyframes, after the last
        with pytest.raises(ValidationError, match="the query names a video frame the QA does not show"):
            QARow.model_validate({**row.model_dump(), "query": {**row.query, "video_frame": str(unshown)}})
    prompted = _prompted(rows)[0]
    beyond = {**prompted.visual_prompts[0].model_dump(), "frame": len(prompted.frame_paths) + 1}
    with pytest.raises(ValidationError, match="a visual prompt refers to a frame the QA does not show"):
        QARow.model_validate({**prompted.model_dump(), "visual_prompts": [beyond]})
