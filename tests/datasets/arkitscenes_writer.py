"""ARKitScenes 3DOD fixture (shared/FORMATS.md §2): a synthetic indoor scene written as one 3DOD video folder.

`<root>/Training/<vid>/<vid>_3dod_annotation.json`, `<vid>_3dod_mesh.ply` and `<vid>_frames/` with
`lowres_wide/<vid>_<ts>.png` (RGB), `lowres_depth/<vid>_<ts>.png` (uint16 mm), `lowres_wide_intrinsics/
<vid>_<ts>.pincam` (`w h fx fy cx cy`, the dataset's integer-index pixel convention: cx, cy = render's − 0.5) and
`lowres_wide.traj` (ts, world-to-camera axis-angle, translation), plus a `metadata.csv` row at the root.

The scene is rendered upright (sky up) and stored as the sensor saw it for the given sky_direction: the upright
image turned so the sky lies on that side (Left: 90° counter-clockwise), which for Left and Right makes a 192×256
portrait render a 256×192 landscape frame. The stored K and sensor camera follow from where np.rot90 sends each
pixel. The dataset's world is the synthetic z-up world yawed by 40° and moved (`dataset_from_synthetic`).

Timing quirks of the real data: timestamps carry 3 decimals; traj times carry 8 and sit a fraction of a
millisecond off (one frame 3.1 ms off, matched only by the 5 ms tolerance); extra traj lines lie between frames;
two pincams are named 0.001 s off their frame.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from schemas.annotations import Intrinsics
from schemas.tiers import ScaleTier
from sources.synthetic import SceneRenderer, build_scene
from sources.synthetic.geometry import yaw_rotation
from tests.datasets import FixtureScene

FOCALS_PER_WIDTH = (0.9, 0.97)  # fx ≠ fy and an off-centre principal point: a swapped or mirrored K fails
PRINCIPAL_OFFSET_PX = (6.25, -4.75)
START_S = 5713.417
FRAME_STEP_S = 0.1
TRAJ_JITTER_S = 0.00023417
FAR_POSE_FRAME, FAR_POSE_OFFSET_S = 3, 0.0031
PINCAM_NAME_OFFSETS_S = {2: 0.001, 5: -0.001}
ROT90_CCW_TURNS = {"Up": 0, "Left": 1, "Down": 2, "Right": 3}
"""np.rot90 (counter-clockwise) turns that put the upright picture's sky on the named side."""
METADATA_COLUMNS = ("video_id", "visit_id", "fold", "sky_direction", "is_in_upsampling")


def video_id(seed: int) -> str:
    return str(42445000 + seed)


def dataset_world_from_synthetic() -> np.ndarray:
    """Synthetic z-up world → the fixture's ARKit z-up world: yawed 40° about z and offset."""
    transform = np.eye(4)
    transform[:3, :3] = yaw_rotation(40.0)
    transform[:3, 3] = (1.35, -0.62, -1.18)
    return transform


def timestamps(num_frames: int) -> list[str]:
    return [f"{START_S + FRAME_STEP_S * i:.3f}" for i in range(num_frames)]


def rotate_ccw(k: Intrinsics, camera_to_world: np.ndarray) -> tuple[Intrinsics, np.ndarray]:
    """K and camera for np.rot90(image, 1): out[i, j] = in[j, W − 1 − i], i.e. u_out = v, v_out = W − u in
    continuous pixel coordinates (centres at + 0.5), so x_out = y and y_out = −x."""
    turned = Intrinsics(fx=k.fy, fy=k.fx, cx=k.cy, cy=k.width - k.cx, width=k.height, height=k.width)
    pose = camera_to_world.copy()
    pose[:3, 0], pose[:3, 1] = camera_to_world[:3, 1], -camera_to_world[:3, 0]
    return turned, pose


def write_arkitscenes(root: Path, seed: int = 0, *, sky_direction: str = "Left", width: int = 256,
                      height: int = 192, num_frames: int = 8) -> FixtureScene:
    """Write one video (stored `width`×`height`, sensor orientation) under `root`/Training and its metadata row."""
    turns = ROT90_CCW_TURNS[sky_direction]
    upright_w, upright_h = (width, height) if turns % 2 == 0 else (height, width)
    scene = build_scene(ScaleTier.INDOOR, seed)
    k_upright = Intrinsics(fx=FOCALS_PER_WIDTH[0] * upright_w, fy=FOCALS_PER_WIDTH[1] * upright_w,
                           cx=upright_w / 2 + PRINCIPAL_OFFSET_PX[0], cy=upright_h / 2 + PRINCIPAL_OFFSET_PX[1],
                           width=upright_w, height=upright_h)
    renderer = SceneRenderer(scene, k_upright)
    poses = scene.camera_path.poses(num_frames)
    to_dataset = dataset_world_from_synthetic()

    vid = video_id(seed)
    video_dir = Path(root) / "Training" / vid
    frames_dir = video_dir / f"{vid}_frames"
    for sub in ("lowres_wide", "lowres_depth", "lowres_wide_intrinsics"):
        (frames_dir / sub).mkdir(parents=True, exist_ok=True)

    masks, traj_lines = [], []
    for i, (stamp, pose) in enumerate(zip(timestamps(num_frames), poses, strict=True)):
        frame = renderer.render(pose)
        masks.append(frame.mask)
        k_stored, sensor_pose = k_upright, pose
        for _ in range(turns):
            k_stored, sensor_pose = rotate_ccw(k_stored, sensor_pose)
        rgb = np.ascontiguousarray(np.rot90(frame.rgb, turns))
        depth_mm = np.round(np.rot90(frame.depth, turns) * 1000.0).astype(np.uint16)
        assert rgb.shape[:2] == (height, width) == (k_stored.height, k_stored.width)
        Image.fromarray(rgb).save(frames_dir / "lowres_wide" / f"{vid}_{stamp}.png")
        Image.fromarray(np.ascontiguousarray(depth_mm)).save(frames_dir / "lowres_depth" / f"{vid}_{stamp}.png")
        pincam_stamp = f"{float(stamp) + PINCAM_NAME_OFFSETS_S.get(i, 0.0):.3f}"
        (frames_dir / "lowres_wide_intrinsics" / f"{vid}_{pincam_stamp}.pincam").write_text(
            f"{width} {height} {k_stored.fx!r} {k_stored.fy!r} {k_stored.cx - 0.5!r} {k_stored.cy - 0.5!r}\n")

        offset = FAR_POSE_OFFSET_S if i == FAR_POSE_FRAME else TRAJ_JITTER_S
        traj_lines.append(traj_line(float(stamp) + offset, to_dataset @ sensor_pose))
        between = np.eye(4)  # a decoy line half-way to the next frame: never a frame's pose
        between[:3, 3] = (0.1 * i, -0.2, 0.05)
        traj_lines.append(traj_line(float(stamp) + FRAME_STEP_S / 2, between))
    (frames_dir / "lowres_wide.traj").write_text("".join(traj_lines))

    write_annotation(video_dir / f"{vid}_3dod_annotation.json", scene.annotation, to_dataset, seed)
    write_mesh(video_dir / f"{vid}_3dod_mesh.ply", scene.annotation.regions[0].box.size if scene.annotation.regions
               else (4.0, 4.0, 2.5))
    append_metadata(Path(root) / "metadata.csv", vid, sky_direction)
    return FixtureScene(root=Path(root), scene_id=f"arkitscenes_{vid}", tier=ScaleTier.INDOOR,
                        annotation=scene.annotation, camera_to_world=poses, intrinsics=k_upright,
                        masks=np.stack(masks), dataset_from_synthetic=to_dataset)


def traj_line(time_s: float, camera_to_world: np.ndarray) -> str:
    """`ts ax ay az tx ty tz`: the world-to-camera rotation as axis-angle (cv2.Rodrigues) and its translation."""
    world_to_camera = np.linalg.inv(camera_to_world)
    axis_angle = cv2.Rodrigues(world_to_camera[:3, :3])[0].ravel()
    values = [*axis_angle, *world_to_camera[:3, 3]]
    return f"{time_s:.8f} " + " ".join(repr(float(v)) for v in values) + "\n"


def box_entry(uid: str, label: str, object_id: int, center: np.ndarray, axes_rows: np.ndarray,
              lengths: tuple[float, float, float]) -> dict:
    """One `data[i]` entry: normalizedAxes = the box axes as rows (row-major), axesLengths along them."""
    return {"uid": uid, "label": label, "modelId": "", "children": [], "objectId": object_id,
            "segments": {"obbAligned": {"centroid": [float(v) for v in center],
                                        "axesLengths": [float(v) for v in lengths],
                                        "normalizedAxes": [float(v) for v in np.asarray(axes_rows).reshape(9)]}},
            "hierarchy": 0, "isInGroup": False, "labelType": "object", "attributes": {}}


def write_annotation(path: Path, annotation, to_dataset: np.ndarray, seed: int) -> None:
    """The objects' boxes (not the room region) in the dataset's world; labels spelt with spaces."""
    data = []
    for obj in annotation.objects:
        box = obj.box
        yaw = math.radians(box.yaw_deg)
        axes_world = np.array([[math.cos(yaw), math.sin(yaw), 0.0], [-math.sin(yaw), math.cos(yaw), 0.0],
                               [0.0, 0.0, 1.0]])  # rows: the box's x, y, z axes in the synthetic world
        axes_dataset = axes_world @ to_dataset[:3, :3].T
        center = to_dataset[:3, :3] @ np.asarray(box.center) + to_dataset[:3, 3]
        data.append(box_entry(f"{seed:08x}-{obj.instance_id:04x}-4a1b-9c3d-{obj.instance_id:012x}",
                              obj.category.replace("_", " "), obj.instance_id, center, axes_dataset, box.size))
    path.write_text(json.dumps({"data": data, "stats": {}, "comment": "", "confirm": True, "skipped": False}))


def write_mesh(path: Path, room_size) -> None:
    """A tiny ASCII PLY: the room's floor as two triangles (the adapter does not read it)."""
    half_x, half_y = room_size[0] / 2, room_size[1] / 2
    vertices = [(-half_x, -half_y, 0.0), (half_x, -half_y, 0.0), (half_x, half_y, 0.0), (-half_x, half_y, 0.0)]
    lines = ["ply", "format ascii 1.0", f"element vertex {len(vertices)}", "property float x", "property float y",
             "property float z", "element face 2", "property list uchar int vertex_indices", "end_header"]
    lines += [f"{x} {y} {z}" for x, y, z in vertices] + ["3 0 1 2", "3 0 2 3"]
    path.write_text("\n".join(lines) + "\n")


def append_metadata(path: Path, vid: str, sky_direction: str) -> None:
    """Add (or replace) the video's row in metadata.csv."""
    rows = []
    if path.exists():
        with path.open(newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if row["video_id"] != vid]
    rows.append({"video_id": vid, "visit_id": str(420000 + int(vid) % 1000), "fold": "Training",
                 "sky_direction": sky_direction, "is_in_upsampling": "False"})
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=METADATA_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
