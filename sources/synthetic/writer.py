"""Writing one annotated scene directory (layout of schemas/annotations.py): atomic, byte-deterministic."""

from __future__ import annotations

import os
import re
import shutil
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from schemas.annotations import CAMERAS_FILE, DEPTH_FILE, MASKS_FILE, SCENE_FILE, VIDEO_FILE
from schemas.tiers import ScaleTier

SCENE_FILES = (VIDEO_FILE, DEPTH_FILE, MASKS_FILE, CAMERAS_FILE, SCENE_FILE)
# float16 keeps depth to 0.05 % (half an ulp), which is coarse where objects are thin for their distance:
# 0.12 mm steps on a 1 mm washer at 25 cm, 0.5 mm on a 2 cm laptop at 1 m, 0.12 m on a 0.3 m field at 400 m.
# Those tiers store float32 (it compresses well there); in float16 indoor and outdoor steps stay about 1 % of their
# thinnest objects (a 0.22 m lamp at 6 m, a 1.4 m car at 60 m), and float32 would cost 10× the disk.
DEPTH_DTYPES = {
    ScaleTier.TINY_TABLETOP: np.float32,
    ScaleTier.TABLETOP: np.float32,
    ScaleTier.INDOOR: np.float16,
    ScaleTier.OUTDOOR: np.float16,
    ScaleTier.DRONE: np.float32,
}
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)  # fixed, so equal arrays give equal bytes (np.savez stamps the clock)


def is_complete_scene(scene_dir: Path) -> bool:
    """True when every file of the layout is present."""
    return all((scene_dir / name).is_file() for name in SCENE_FILES)


def save_npz(path: Path, key: str, array: np.ndarray) -> None:
    """Compressed .npz with one array, readable by np.load, identical bytes for identical arrays."""
    info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_TIMESTAMP)
    info.compress_type = zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(path, mode="w") as archive, archive.open(info, mode="w", force_zip64=True) as entry:
        np.lib.format.write_array(entry, np.asarray(array), allow_pickle=False)


def save_model(path: Path, model: BaseModel) -> None:
    path.write_text(model.model_dump_json(indent=1))


_STAGING = re.compile(r"^\..+\.(?:partial|retired)-(\d+)$")
"""A scene folder being written (or being replaced) by the process whose pid it names."""


def remove_stale_renders(root: Path) -> list[Path]:
    """Delete the staging folders under `root` left by renders whose process is gone (killed mid-render); those of
    a live process are kept. Discovery never reads them (hidden names); this reclaims their space."""
    removed = []
    for path in sorted(root.iterdir()) if root.is_dir() else []:
        match = _STAGING.match(path.name)
        if match and path.is_dir() and not path.is_symlink() and not _alive(int(match.group(1))):
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


@contextmanager
def atomic_scene_dir(scene_dir: Path) -> Iterator[Path]:
    """Yield a temporary sibling directory; on success it replaces `scene_dir`, on error it is removed."""
    scene_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = scene_dir.with_name(f".{scene_dir.name}.partial-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if scene_dir.exists():
        retired = scene_dir.with_name(f".{scene_dir.name}.retired-{os.getpid()}")
        os.replace(scene_dir, retired)
        os.replace(staging, scene_dir)
        shutil.rmtree(retired)
    else:
        os.replace(staging, scene_dir)
