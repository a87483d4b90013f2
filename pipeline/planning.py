"""Shards planned ahead of a run by one pass of discovery, counting the videos as they are planned."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

from pipeline.shard import Shard, plan_shards
from sources.discovery import VideoItem


class ShardPlanner:
    """Plans the shards of `items` (`plan_shards`) in a background thread while the run curates the first ones:
    iterating yields them in plan order, as soon as each is planned; `videos` counts the videos planned so far and
    is the run's total once `finished` (the progress total, with no second pass of discovery). Shards planned but not
    yet taken wait in memory (under 1 KiB a video). An error of discovery is raised by the iteration, after the
    shards planned before it."""

    def __init__(self, items: Iterable[VideoItem], shard_size: int, data_root: Path):
        self.videos = 0
        self.finished = False
        self._planned: queue.SimpleQueue[Shard | None] = queue.SimpleQueue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._plan, args=(items, shard_size, data_root), daemon=True,
                                        name="shard-planner")
        self._thread.start()

    def _plan(self, items: Iterable[VideoItem], shard_size: int, data_root: Path) -> None:
        try:
            for shard in plan_shards(items, shard_size, data_root):
                self.videos += len(shard.items)
                self._planned.put(shard)
        except BaseException as err:  # handed to the iterating thread
            self._error = err
        finally:
            self.finished = True
            self._planned.put(None)

    def __iter__(self) -> Iterator[Shard]:
        while (shard := self._planned.get()) is not None:
            yield shard
        self._thread.join()
        if self._error is not None:
            raise self._error
