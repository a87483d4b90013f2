"""Adapter for a plain folder of videos with no annotations.

Tier hint: the nearest folder between a video and the data root named after a tier (`tiny_tabletop`, `tabletop`,
`indoor`, `outdoor`, `drone`) gives the video's tier, e.g. `<root>/drone/survey/a.mp4` is a drone video; a video with
no such folder gets its tier from its measured extent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from schemas.annotations import SCENE_FILE
from schemas.paths import inside_root
from sources.contract import KeyframePolicy, SceneInputs, Source, register_source
from sources.discovery import VideoItem, folder_scene_id, tier_hint, walk
from sources.video_decode import decode_frames, probe_video

SOURCE = "video_folder"
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")


@register_source
class VideoFolderSource(Source):
    """Frames only: every modality comes from specialists (poses from SfM, depth, detection + tracking)."""

    name = SOURCE
    native = frozenset()
    description = "plain video files (.mp4, .mov, .mkv, .avi, .webm) in any folder; a tier-named folder hints the tier"

    def detect(self, root: Path) -> bool:
        return True  # any folder may hold videos; it claims only what no earlier source claimed

    def discover(self, root: Path) -> Iterator[VideoItem]:
        return discover(root)

    def read(self, root: Path, item: VideoItem, policy: KeyframePolicy) -> SceneInputs:
        path = inside_root(root, item.path)
        probe = probe_video(path)
        keyframes = policy.select(probe.n_frames)
        return SceneInputs(scene_id=item.scene_id, source=SOURCE, frame_indices=keyframes,
                           timestamps_s=[i / probe.fps for i in keyframes], rgb=decode_frames(path, keyframes),
                           fps=probe.fps, n_frames=probe.n_frames, content=[path], tier=item.tier)


def discover(root: Path) -> Iterator[VideoItem]:
    """Video files under `root` that are not part of an annotated scene directory (symlinked folders are not
    followed; a symlinked video is read where it points, inside the data root)."""
    for path in walk(root):
        if path.suffix.lower() not in VIDEO_SUFFIXES or path.is_dir() or (path.parent / SCENE_FILE).exists():
            continue
        uri = path.relative_to(root).as_posix()
        yield VideoItem(uri=uri, path=path, source=SOURCE, scene_id=scene_id_for(uri), tier=tier_hint(uri))


def scene_id_for(uri: str) -> str:
    """A plain video's scene id: its path under the data root without the suffix, folders joined by '__'."""
    return folder_scene_id(uri.rsplit(".", 1)[0])
