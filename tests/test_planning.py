"""The shard planner: one pass of discovery, the shards `plan_shards` gives, counted as they are planned."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.planning import ShardPlanner
from pipeline.shard import plan_shards
from sources.discovery import VideoItem


def _items(root: Path, n: int) -> list[VideoItem]:
    return [VideoItem(uri=f"v{i}.mp4", path=root / f"v{i}.mp4", source="video_folder", scene_id=f"v{i}")
            for i in range(n)]


def test_the_planner_gives_the_planned_shards_and_counts_every_video(tmp_path):
    passes = []

    def discovery():
        passes.append(1)
        yield from _items(tmp_path, 7)

    planner = ShardPlanner(discovery(), 3, tmp_path)
    shards = list(planner)
    assert [(s.shard_id, s.items) for s in shards] == [(s.shard_id, s.items) for s in
                                                       plan_shards(_items(tmp_path, 7), 3, tmp_path)]
    assert planner.finished and planner.videos == 7 == sum(len(s.items) for s in shards)
    assert passes == [1]  # discovery walked once


def test_an_error_of_discovery_comes_after_the_shards_planned_before_it(tmp_path):
    def discovery():
        yield from _items(tmp_path, 4)
        raise OSError("the data root's disk went away")

    planner, taken = ShardPlanner(discovery(), 2, tmp_path), []
    with pytest.raises(OSError, match="disk went away"):
        for shard in planner:
            taken.append(shard)
    assert [len(s.items) for s in taken] == [2, 2] and planner.videos == 4 and planner.finished
