"""Test-only fault injection, loaded by every Python process of a run (via PYTHONPATH): the driver and Ray's workers.

$SPACEVISTA_FAULTS names videos and what curating each does, as `scene_id=mode` pairs separated by commas (the id
as the source names it, without `@<data root tag>`):
`raise` raises on every attempt, `raise-once` on the first attempt only (the first process to create the marker
file `$SPACEVISTA_FAULT_STATE/<scene_id>` fails), `exit` ends the worker process at once with `os._exit(1)`, as a
crash or an OOM kill would. Nothing is mocked: the real `pipeline.video.curate_video` is wrapped as it is imported.
"""

import functools
import importlib.abc
import importlib.machinery
import os
import sys
from pathlib import Path

_FAULTS = dict(pair.split("=", 1) for pair in os.environ.get("SPACEVISTA_FAULTS", "").split(",") if pair)


class InjectedFault(RuntimeError):
    """The error a `raise` or `raise-once` video fails with."""


def _faulty(curate_video):
    @functools.wraps(curate_video)
    def wrapper(item, *args, **kwargs):
        name = item.scene_id.rsplit("@", 1)[0]  # as its source names it, without the data root's tag
        mode = _FAULTS.get(name)
        if mode == "exit":
            os._exit(1)
        if mode == "raise" or (mode == "raise-once" and _first_time(name)):
            raise InjectedFault(f"injected fault on {item.scene_id} in pid {os.getpid()}")
        return curate_video(item, *args, **kwargs)
    return wrapper


def _first_time(scene_id: str) -> bool:
    try:
        os.close(os.open(Path(os.environ["SPACEVISTA_FAULT_STATE"], scene_id), os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return False
    return True


class _WrapCurateVideo(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports `pipeline.video` as usual, then replaces its `curate_video` with the faulty wrapper."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "pipeline.video":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        self._inner = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        module.curate_video = _faulty(module.curate_video)


if _FAULTS:
    sys.meta_path.insert(0, _WrapCurateVideo())
