"""Ingest of one annotated scene through the engine-free pipeline: video or frame folder, probe, keyframes,
content-addressed frames, facts and QA rows."""

from __future__ import annotations

import shutil

import av
import cv2
import pytest

from pipeline.video import curate_video
from schemas.config import CurateConfig
from schemas.tiers import ScaleTier
from sources import annotated
from sources.synthetic import RenderSettings, generate_scene
from sources.video_decode import VideoDecodeError, probe_video, sample_keyframes
from storage.layout import OutputLayout


@pytest.fixture(scope="module")
def scene_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ingest-data")
    generate_scene(ScaleTier.TABLETOP, 3, root / "video_scene", settings=RenderSettings(num_frames=12))
    frames_scene = shutil.copytree(root / "video_scene", root / "frames_scene")
    (frames_scene / "frames").mkdir()
    with av.open(str(frames_scene / "video.mp4")) as container:
        for i, frame in enumerate(container.decode(video=0)):
            cv2.imwrite(str(frames_scene / "frames" / f"{i:06d}.png"), frame.to_ndarray(format="bgr24"))
    (frames_scene / "video.mp4").unlink()
    return root


def _curate(root, tmp_path, uri):
    item = next(i for i in annotated.discover(root) if i.uri == uri)
    config = CurateConfig(data_root=root, output_root=tmp_path, keyframe_stride=2)
    return item, curate_video(item, config, OutputLayout(tmp_path), "run-1")


def test_probe_and_keyframes(scene_root):
    probe = probe_video(scene_root / "video_scene" / "video.mp4")
    assert (probe.n_frames, probe.width, probe.height, probe.fps) == (12, 512, 384, 6.0)
    assert sample_keyframes(12, 2, 16) == [0, 2, 4, 6, 8, 10]
    assert sample_keyframes(100, 1, 5) == [0, 25, 50, 74, 99]
    with pytest.raises(VideoDecodeError, match="needs its fps"):
        probe_video(scene_root / "frames_scene" / "frames")


def test_video_scene_gives_rows_of_every_table(scene_root, tmp_path):
    _, out = _curate(scene_root, tmp_path, "video_scene/video.mp4")
    assert "failures" not in out.rows
    (video,) = out.rows["videos"]
    assert video.n_frames == 12 and video.has_native_annotations and len(video.video_id) == 64
    frames = out.rows["frames"]
    assert [f.frame_index for f in frames] == [0, 2, 4, 6, 8, 10]
    for frame in frames:  # content-addressed: the file name is the sha256 of its bytes
        assert (tmp_path / frame.path).is_file() and frame.frame_sha256 in frame.path
    assert len(out.rows["scenes"]) == 1 and len(out.rows["cameras"]) == 6
    assert out.rows["objects"] and len(out.rows["qa"]) > 20


def test_frame_folder_scene_matches_the_video_scene(scene_root, tmp_path):
    item, from_frames = _curate(scene_root, tmp_path / "a", "frames_scene/frames")
    _, from_video = _curate(scene_root, tmp_path / "b", "video_scene/video.mp4")
    assert item.path.is_dir() and "failures" not in from_frames.rows
    assert from_frames.rows["videos"][0].fps == 6.0
    lifted = {o.instance_id: o.size_lwh for o in from_frames.rows["objects"]}
    expected = {o.instance_id: o.size_lwh for o in from_video.rows["objects"]}
    assert lifted.keys() == expected.keys()
    for instance, size in lifted.items():  # point subsampling is seeded by scene id, which differs here
        assert size == pytest.approx(expected[instance], rel=0.01, abs=1e-3)
    assert {r.task_type for r in from_frames.rows["qa"]} == {r.task_type for r in from_video.rows["qa"]}
