"""Bad input in each dataset's own format: its item ends as a `failures` row naming the file and the field, the good
items beside it are curated, and the manifest's `source` column and `--source` pick items by source."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from pipeline.video import curate_video
from schemas.config import CurateConfig
from schemas.tiers import ScaleTier
from sources import registry
from sources.manifest import VideoManifest
from storage.layout import OutputLayout
from tests.conftest import REPO
from tests.datasets.arkitscenes_writer import write_arkitscenes
from tests.datasets.dl3dv_writer import write_dl3dv
from tests.datasets.nuscenes_writer import write_nuscenes
from tests.datasets.wildrgbd_writer import write_wildrgbd


def _scene_dir(root: Path, scene_id: str) -> Path:
    item = next(i for i in registry.discover(root) if i.scene_id == scene_id)
    return item.annotations_dir or item.path


def _drop_pose_line(scene: Path) -> str:
    poses = scene / "cam_poses.txt"
    lines = poses.read_text().splitlines()
    poses.write_text("\n".join(lines[:3] + lines[4:]) + "\n")
    return "cam_poses.txt"


def _singular_k(scene: Path) -> str:
    metadata = json.loads((scene / "metadata").read_text())
    metadata["K"][0] = 0.0  # fx
    (scene / "metadata").write_text(json.dumps(metadata))
    return "metadata"


def _small_depth(scene: Path) -> str:
    depth = sorted((scene / "depth").iterdir())[0]  # frame 0 is always a keyframe
    cv2.imwrite(str(depth), np.zeros((10, 12), np.uint16))
    return depth.name


def _missing_pincam(scene: Path) -> str:
    next(scene.glob("*_frames/lowres_wide_intrinsics/*.pincam")).unlink()
    return ".pincam"


def _skewed_box(scene: Path) -> str:
    annotation = next(scene.glob("*_3dod_annotation.json"))
    data = json.loads(annotation.read_text())
    data["data"][0]["segments"]["obbAligned"]["normalizedAxes"] = [1, 0.4, 0, 0, 1, 0, 0, 0, 1]
    annotation.write_text(json.dumps(data))
    return data["data"][0]["uid"]


def _corrupt_annotation(scene: Path) -> str:
    annotation = next(scene.glob("*_3dod_annotation.json"))
    annotation.write_text(annotation.read_text()[:40])
    return annotation.name


def _no_frames(scene: Path) -> str:
    transforms = json.loads((scene / "transforms.json").read_text())
    transforms["frames"] = []
    (scene / "transforms.json").write_text(json.dumps(transforms))
    return "transforms.json"


CASES = {
    # dataset: (writer of a good scene, writer of the scene to break, how it is broken)
    "wildrgbd-pose": (lambda r: write_wildrgbd(r, seed=3), lambda r: write_wildrgbd(r, seed=4), _drop_pose_line),
    "wildrgbd-k": (lambda r: write_wildrgbd(r, seed=3), lambda r: write_wildrgbd(r, seed=4), _singular_k),
    "wildrgbd-depth": (lambda r: write_wildrgbd(r, seed=3), lambda r: write_wildrgbd(r, seed=4), _small_depth),
    "arkitscenes-pincam": (lambda r: write_arkitscenes(r, seed=5), lambda r: write_arkitscenes(r, seed=6),
                           _missing_pincam),
    "arkitscenes-box": (lambda r: write_arkitscenes(r, seed=5), lambda r: write_arkitscenes(r, seed=6), _skewed_box),
    "arkitscenes-json": (lambda r: write_arkitscenes(r, seed=5), lambda r: write_arkitscenes(r, seed=6),
                         _corrupt_annotation),
    "dl3dv-frames": (lambda r: write_dl3dv(r, seed=7), lambda r: write_dl3dv(r, seed=8), _no_frames),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_broken_item_is_a_failure_naming_file_and_field_and_the_good_one_is_curated(case, tmp_path):
    write_good, write_bad, breaks = CASES[case]
    root = tmp_path / "data"
    good, bad = write_good(root), write_bad(root)
    named = breaks(_scene_dir(root, bad.scene_id))
    config = CurateConfig(data_root=root, output_root=tmp_path / "out", generate_default_data=False)
    outputs = {item.scene_id: curate_video(item, config, OutputLayout(config.output_root), "bad")
               for item in registry.discover(root)}
    (failure,) = outputs[bad.scene_id].rows["failures"]
    assert failure.stage == "annotations" and named in failure.message, failure
    assert "qa" not in outputs[bad.scene_id].rows
    assert "failures" not in outputs[good.scene_id].rows and outputs[good.scene_id].rows["qa"]


def test_a_nuscenes_sample_without_its_ego_pose_fails_only_its_scene(tmp_path):
    root = tmp_path / "data"
    good, bad = write_nuscenes(root, seed=8), write_nuscenes(root, seed=9)
    tables = root / "v1.0-mini"
    scenes = {s["name"]: s for s in json.loads((tables / "scene.json").read_text())}
    bad_sample = scenes[bad.scene_id.removeprefix("nuscenes_")]["first_sample_token"]
    sample_data = json.loads((tables / "sample_data.json").read_text())
    victim = next(sd for sd in sample_data if sd["sample_token"] == bad_sample and sd["is_key_frame"]
                  and "CAM_FRONT" in sd["filename"])
    victim["ego_pose_token"] = "f" * 32
    (tables / "sample_data.json").write_text(json.dumps(sample_data))
    config = CurateConfig(data_root=root, output_root=tmp_path / "out", generate_default_data=False)
    outputs = {item.scene_id: curate_video(item, config, OutputLayout(config.output_root), "bad")
               for item in registry.discover(root)}
    (failure,) = outputs[bad.scene_id].rows["failures"]
    assert "ego_pose" in failure.message and "f" * 32 in failure.message, failure.message
    assert outputs[good.scene_id].rows["qa"]


def test_a_manifest_row_names_its_source_and_unknown_sources_are_rejected(tmp_path):
    root = tmp_path / "data"
    scene = write_dl3dv(root, seed=7)
    scene_dir = _scene_dir(root, scene.scene_id).relative_to(root).as_posix()
    manifest = root / "videos.jsonl"
    manifest.write_text(json.dumps({"uri": scene_dir, "source": "dl3dv", "tier": "drone"}) + "\n"
                        + json.dumps({"uri": scene_dir, "source": "no_such_source"}) + "\n")
    rows = VideoManifest(manifest, root)
    (item,) = list(rows)
    assert (item.source, item.scene_id, item.tier) == ("dl3dv", scene.scene_id, ScaleTier.DRONE)
    (rejected,) = rows.rejected
    assert rejected.position == "line 2" and "unknown source 'no_such_source'" in rejected.reason


def test_sources_command_lists_every_source_and_its_modalities():
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "sources"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[1:] if line.strip()}
    assert {"wildrgbd", "arkitscenes", "dl3dv", "nuscenes", "annotated", "video_folder"} <= set(lines)
    header = proc.stdout.splitlines()[0].split()
    native = {name: {header[i] for i, mark in enumerate(cells) if mark == "native"} for name, cells in lines.items()
              if name in ("dl3dv", "arkitscenes", "video_folder")}
    assert native["dl3dv"] == {"intrinsics", "poses"} and native["video_folder"] == set()
    assert {"boxes", "depth", "gravity", "metric"} <= native["arkitscenes"]


def test_an_unknown_source_is_a_usage_error_before_anything_runs(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "curate", "--data-root", str(tmp_path), "--output",
                           str(tmp_path / "out"), "--source", "scannet"], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 2 and "unknown source 'scannet'" in proc.stderr, proc.stderr
    assert not (tmp_path / "out").exists()
