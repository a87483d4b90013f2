"""Exact truth of any QA row of a generated scene, decided from its boxes, poses and per-pixel instance masks alone
(never through facts/ or qa_templates/): what the wider ground-truth test holds rows against.

Each check returns a `Verdict`: the expected answer (an SI value, or the text of the correct option), or the reason
the row's truth is ambiguous when its own words admit two answers under exact geometry (a near tie, an instance too
small to be sure it appears, a direction within a few degrees of a sector boundary). Visual prompts and names are
checked against the pixels: a prompt must lie on its referent, a name 'the <category>' must fit one instance only.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from scipy.ndimage import find_objects

from schemas.annotations import CameraTrack, SceneAnnotation
from schemas.tiers import ScaleTier
from tests.ground_truth import box_distance, box_frame, execute_plan_text, sweep_depth

CLEAR_SHARE = 0.002
"""An instance is seen clearly in a frame when its mask covers this share of the image (98 px at 256×192);
one that shows (≥ 1 px) but never this clearly may or may not 'appear' in a viewer's words."""
TIE = 0.03
"""Compared quantities within 3% of each other (or of a stated radius) are a near tie."""
SECTOR_DEG = 3.0
"""Bearings and turns within 3° of a sector boundary are ambiguous."""
CONTACT_FLOOR_M = {ScaleTier.TINY_TABLETOP: 0.001, ScaleTier.TABLETOP: 0.01, ScaleTier.INDOOR: 0.02,
                   ScaleTier.OUTDOOR: 0.1, ScaleTier.DRONE: 1.0}
"""Contact tolerance floor per tier (1 cm × the tier's scale): overlaps below it are contact, not collision."""
UNIT_M = {"mm": 0.001, "cm": 0.01, "m": 1.0, "km": 1000.0}
MAX_QUESTION_CHARS = 1000
"""A question with its options listed reads in under 1,000 characters."""

NOTHING = "nothing is in the way"
NAV_SECTORS = ("straight ahead", "ahead and to the left", "ahead and to the right", "behind you on the left",
               "behind you on the right")
MOTIONS = {"yaw": ("turned left", "turned right"), "pitch": ("tilted up", "tilted down"),
           "forward": ("moved forward", "moved backward"), "right": ("moved right", "moved left"),
           "up": ("moved up", "moved down")}


@dataclass(frozen=True)
class Verdict:
    expected: float | str | None
    ambiguous: str | None = None


def ambiguous(reason: str) -> Verdict:
    return Verdict(None, reason)


class SceneTruth:
    """One generated scene's exact boxes (world frame), poses and every frame's instance mask."""

    def __init__(self, scene_dir: Path, scene_id: str | None = None):
        """`scene_id`: the id the pipeline gave the scene (its folder name, annotated discovery names scenes by
        folder, with the data root's tag when it came through discovery); object ids are keyed by it."""
        self.scene = SceneAnnotation.model_validate_json((scene_dir / "scene.json").read_text())
        track = CameraTrack.model_validate_json((scene_dir / "cameras.json").read_text())
        with np.load(scene_dir / "masks.npz", allow_pickle=False) as archive:
            self.masks = archive["masks"]
        self.scene_id = scene_id or scene_dir.name
        self.tier = ScaleTier(self.scene.tier)
        self.poses = {f.index: np.asarray(f.camera_to_world, float) for f in track.frames}
        self.objects = {f"{self.scene_id}/{o.instance_id}": o for o in self.scene.objects}
        n_ids = max((o.instance_id for o in self.scene.objects), default=0) + 1
        self.pixels = np.stack([np.bincount(m.ravel(), minlength=n_ids) for m in self.masks])  # [frame, id]
        self.clear_px = CLEAR_SHARE * self.masks.shape[1] * self.masks.shape[2]

    # --- visibility, from the masks of every frame ---------------------------------------------------------
    def instance(self, object_id: str) -> int:
        return self.objects[object_id].instance_id

    def shows(self, object_id: str) -> bool:
        return bool(self.pixels[:, self.instance(object_id)].any())

    def clear(self, object_id: str) -> bool:
        return bool(self.pixels[:, self.instance(object_id)].max() >= self.clear_px)

    def first_showing(self, object_id: str) -> int | None:
        frames = np.flatnonzero(self.pixels[:, self.instance(object_id)] > 0)
        return int(frames[0]) if len(frames) else None

    def first_clear(self, object_id: str) -> int | None:
        frames = np.flatnonzero(self.pixels[:, self.instance(object_id)] >= self.clear_px)
        return int(frames[0]) if len(frames) else None

    def of_category(self, category: str) -> list[str]:
        return [i for i, o in self.objects.items() if o.category == category]

    # --- geometry ------------------------------------------------------------------------------------------
    def centre(self, object_id: str) -> np.ndarray:
        return np.asarray(self.objects[object_id].box.center, float)

    def box(self, object_id: str):
        return self.objects[object_id].box

    def to_camera(self, frame: int, points: np.ndarray) -> np.ndarray:
        pose = self.poses[frame]
        return (np.atleast_2d(points) - pose[:3, 3]) @ pose[:3, :3]

    def corners(self, object_id: str) -> np.ndarray:
        centre, rotation, half = box_frame(self.box(object_id))
        signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], float)
        return centre + (signs * half) @ rotation.T

    def z_range(self, object_id: str) -> tuple[float, float]:
        box = self.box(object_id)
        return box.center[2] - box.size[2] / 2, box.center[2] + box.size[2] / 2


# --- referents: what a visual prompt or a name points at ------------------------------------------------------
def referent(truth: SceneTruth, row: dict, prompt: dict, output_root: Path) -> int:
    """The instance a prompt's pixels pick (0: none): the one under a point; the one whose visible pixel box
    overlaps a drawn box best (IoU ≥ 0.5, ahead of the next by 0.1); the one under most of a mask."""
    mask = truth.masks[row["video_frame_numbers"][prompt["frame"] - 1]]
    if prompt["kind"] == "point":
        x, y = (int(math.floor(v)) for v in prompt["coords"])
        return int(mask[min(y, mask.shape[0] - 1), min(x, mask.shape[1] - 1)])
    if prompt["kind"] == "bbox":
        ious = sorted(((_box_iou(prompt["coords"], box), instance) for instance, box in _mask_boxes(mask).items()),
                      reverse=True) + [(0.0, 0), (0.0, 0)]
        (best, picked), (second, _) = ious[:2]
        return picked if best >= 0.5 and best - second >= 0.1 else 0
    drawn = cv2.imread(str(output_root / prompt["mask_path"]), cv2.IMREAD_GRAYSCALE) > 0
    under = np.bincount(mask[drawn].ravel(), minlength=2)
    picked = int(under.argmax())
    return picked if under[picked] >= 0.5 * drawn.sum() else 0


def _mask_boxes(mask: np.ndarray) -> dict[int, tuple[int, int, int, int]]:
    """Each visible instance's pixel box [x1, y1, x2, y2) in one frame."""
    return {instance: (cols.start, rows.start, cols.stop, rows.stop)
            for instance, found in enumerate(find_objects(mask), start=1) if found is not None
            for rows, cols in [found]}


def _box_iou(a, b) -> float:
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def prompt_referent_problems(truth: SceneTruth, row: dict, output_root: Path) -> list[str]:
    """Each visual prompt must pick its own object in the frame it is drawn on (`referent`); a name
    'the <category>' must fit the only instance of that category seen clearly in the video."""
    problems = []
    for prompt in row["visual_prompts"]:
        got, want = referent(truth, row, prompt, output_root), truth.instance(prompt["object_id"])
        if got != want:
            problems.append(f"{prompt['kind']} {prompt['coords']} in video frame "
                            f"{row['video_frame_numbers'][prompt['frame'] - 1]} picks instance {got}, not {want}")
    if row["input_type"] == "text":
        for object_id in row["object_ids"]:
            category = truth.objects[object_id].category
            name = f"the {category.replace('_', ' ')}"
            clear = [i for i in truth.of_category(category) if truth.clear(i)]
            if name in row["question"] and len(clear) > 1:
                problems.append(f"'{name}' fits {len(clear)} instances seen clearly in the video")
    return problems


def wording_problems(row: dict) -> list[str]:
    """A question speaks words, not identifiers (no snake_case), and stays readable in length."""
    problems = [f"identifier {token!r} in the question"
                for token in sorted(set(re.findall(r"\b[a-z]+(?:_[a-z]+)+\b", row["question"])))]
    if len(row["question"]) > MAX_QUESTION_CHARS:
        problems.append(f"question of {len(row['question'])} characters")
    return problems


# --- numeric tasks ---------------------------------------------------------------------------------------------
def numeric_truth(truth: SceneTruth, row: dict) -> Verdict:
    task, ids, query = row["task_type"], row["object_ids"], row["query"]
    if task == "object_size":
        size = truth.box(ids[0]).size
        return Verdict(float(max(size)) if query["dimension"] == "longest" else float(size[2]))
    if task == "absolute_distance":
        if re.search(r"centres of|centre to centre|from the centre of .* to the centre of", row["question"]):
            return Verdict(float(np.linalg.norm(truth.centre(ids[0]) - truth.centre(ids[1]))))
        return Verdict(box_distance(truth.box(ids[0]), truth.box(ids[1])))
    if task == "depth_estimation":
        offset = truth.to_camera(int(query["video_frame"]), truth.centre(ids[0]))[0]
        straight = "straight-line" in row["question"] and "not the straight-line" not in row["question"]
        return Verdict(float(np.linalg.norm(offset)) if straight else float(offset[2]))
    if task == "rotation_estimation":
        a, b = truth.poses[int(query["video_frame_a"])], truth.poses[int(query["video_frame_b"])]
        r = a[:3, :3].T @ b[:3, :3]
        return Verdict(float(np.degrees(np.arccos(np.clip((np.trace(r) - 1) / 2, -1, 1)))))
    if task == "object_counting":
        instances = truth.of_category(query["category"])
        if any(truth.shows(i) and not truth.clear(i) for i in instances):
            return ambiguous("an instance shows in the video but never clearly")
        return Verdict(float(sum(truth.shows(i) for i in instances)))
    if task == "room_size":
        room = next(r for r in truth.scene.regions if r.kind == "room")
        length, width, height = room.box.size
        return Verdict(length * width * (height if query["measure"] == "volume" else 1.0))
    if task == "area_estimation":
        size = truth.box(ids[0]).size
        return Verdict(float(size[0] * size[1]))
    raise KeyError(task)


# --- multiple-choice tasks -------------------------------------------------------------------------------------
def near_tie(values: list[float], larger: bool) -> bool:
    best, runner_up = sorted(values, reverse=larger)[:2]
    return abs(best - runner_up) <= TIE * max(abs(best), abs(runner_up))


def position_comparison(truth: SceneTruth, row: dict) -> Verdict:
    a, b = row["object_ids"]
    axis, frame = row["query"]["axis"], int(row["query"]["video_frame"])
    if axis == "above_below":
        coords = [truth.centre(a)[2], truth.centre(b)[2]]
        extents = [truth.box(a).size[2], truth.box(b).size[2]]
        words = ("below", "above")
    else:
        column = 0 if axis == "left_right" else 2
        coords = truth.to_camera(frame, np.stack([truth.centre(a), truth.centre(b)]))[:, column]
        extents = [np.ptp(truth.to_camera(frame, truth.corners(i))[:, column]) for i in (a, b)]
        words = ("left of", "right of") if axis == "left_right" else (
            "closer to the camera than", "farther from the camera than")
        if axis == "near_far":
            ranges = [np.linalg.norm(truth.to_camera(frame, truth.centre(i))) for i in (a, b)]
            if (ranges[0] > ranges[1]) != (coords[0] > coords[1]):
                return ambiguous("depth and straight-line distance order the two differently")
    if abs(coords[0] - coords[1]) < 0.1 * (extents[0] + extents[1]) / 2:
        return ambiguous(f"{axis}: centres {abs(coords[0] - coords[1]):.3g} m apart")
    return Verdict(words[int(coords[0] > coords[1])])


def size_comparison(truth: SceneTruth, row: dict) -> Verdict:
    query = row["query"]

    def measure(object_id: str) -> float:
        size = truth.box(object_id).size
        return {"longest": max(size), "height": size[2], "footprint": size[0] * size[1]}[query["measure"]]

    values = [measure(i) for i in row["object_ids"]]
    larger = query["order"] == "larger"
    if near_tie(values, larger):
        return ambiguous("near tie")
    return Verdict(query[f"name_{int(np.argmax(values) if larger else np.argmin(values))}"])


def relative_distance(truth: SceneTruth, row: dict) -> Verdict:
    ref, *candidates = row["object_ids"]
    distances = [float(np.linalg.norm(truth.centre(ref) - truth.centre(i))) for i in candidates]
    closest = row["query"]["order"] == "closest"
    if near_tie(distances, not closest):
        return ambiguous("near tie")
    return Verdict(row["query"][f"name_{int(np.argmin(distances) if closest else np.argmax(distances)) + 1}"])


def existence(truth: SceneTruth, row: dict) -> Verdict:
    ref = row["object_ids"][0]
    radius = float(row["query"]["radius_m"])
    others = [i for i in truth.of_category(row["query"]["category"]) if i != ref]
    distances = {i: float(np.linalg.norm(truth.centre(ref) - truth.centre(i))) for i in others}
    if any(abs(d - radius) <= TIE * radius for d in distances.values()):
        return ambiguous("an instance lies at the radius")
    in_scene = any(d <= radius for d in distances.values())
    in_video = any(d <= radius for i, d in distances.items() if truth.shows(i))
    if in_scene != in_video:
        return ambiguous("only an instance never seen in the video lies within the radius")
    return Verdict("yes" if in_scene else "no")


def appearance_order(truth: SceneTruth, row: dict) -> Verdict:
    names = json.loads(row["query"]["names"])
    ids = sorted(row["object_ids"], key=lambda i: (truth.first_showing(i) is None, truth.first_showing(i) or 0))
    firsts = [truth.first_showing(i) for i in ids]
    if None in firsts:
        return ambiguous("an object never shows")
    for earlier, later in zip(ids[:-1], ids[1:]):
        clear = truth.first_clear(earlier)
        if clear is None or clear >= truth.first_showing(later):
            return ambiguous(f"{later} shows before {earlier} is seen clearly")
    return Verdict(", then ".join(names[i] for i in ids))


def object_matching(truth: SceneTruth, row: dict, output_root: Path) -> Verdict:
    """Yes iff the two prompts' pixels lie on one instance."""
    a, b = (referent(truth, row, p, output_root) for p in row["visual_prompts"])
    if not a or not b:
        return Verdict("(a prompt lies on no object)")
    return Verdict("yes" if a == b else "no")


def view_change(truth: SceneTruth, row: dict) -> Verdict:
    a, b = (truth.poses[int(row["query"][k])] for k in ("video_frame_a", "video_frame_b"))
    forward_a, forward_b = a[:3, 2], b[:3, 2]
    heading = forward_a[:2] / max(np.linalg.norm(forward_a[:2]), 1e-12)
    if np.linalg.norm(forward_a[:2]) < 0.3 or np.linalg.norm(forward_b[:2]) < 0.3:
        return ambiguous("a frame looks almost straight down")
    yaw = math.degrees(math.atan2(forward_a[0] * forward_b[1] - forward_a[1] * forward_b[0],
                                  forward_a[:2] @ forward_b[:2]))
    pitch = math.degrees(math.asin(np.clip(-forward_b[2], -1, 1)) - math.asin(np.clip(-forward_a[2], -1, 1)))
    seen = [i for i in truth.objects if truth.pixels[int(row["query"]["video_frame_a"]), truth.instance(i)] > 0]
    if not seen:
        return ambiguous("no object in view to judge a translation by")
    distance = float(np.median([np.linalg.norm(truth.centre(i) - a[:3, 3]) for i in seen]))
    step = b[:3, 3] - a[:3, 3]
    right = np.array([heading[1], -heading[0]])
    sizes = {"yaw": yaw, "pitch": -pitch,
             **{k: math.degrees(math.atan2(v, distance))
                for k, v in (("forward", step[:2] @ heading), ("right", step[:2] @ right), ("up", step[2]))}}
    ranked = sorted(sizes.items(), key=lambda kv: -abs(kv[1]))
    (axis, size), (_, runner_up) = ranked[0], ranked[1]
    if abs(size) < 5.0 or abs(size) < 1.5 * abs(runner_up):
        return ambiguous(f"no clearly dominant motion ({axis} {size:.1f}° vs {runner_up:.1f}°)")
    return Verdict(MOTIONS[axis][0 if size > 0 else 1])


def navigation(truth: SceneTruth, row: dict) -> Verdict:
    pose = truth.poses[int(row["query"]["video_frame"])]
    forward = pose[:3, 2][:2]
    if np.linalg.norm(forward) < 0.3:
        return ambiguous("the camera looks almost straight down")
    to_target = truth.centre(row["object_ids"][0])[:2] - pose[:2, 3]
    bearing = math.degrees(math.atan2(forward[0] * to_target[1] - forward[1] * to_target[0], forward @ to_target))
    if min(abs(abs(bearing) - b) for b in (30.0, 90.0, 180.0)) < SECTOR_DEG:
        return ambiguous(f"bearing {bearing:.1f}° on a sector boundary")
    if abs(bearing) <= 30.0:
        return Verdict(NAV_SECTORS[0])
    if abs(bearing) <= 90.0:
        return Verdict(NAV_SECTORS[1] if bearing > 0 else NAV_SECTORS[2])
    return Verdict(NAV_SECTORS[3] if bearing > 0 else NAV_SECTORS[4])


_ROUTE = re.compile(r"(?:turn (left|right) about (\d+)°|turn around|\w+ straight ahead)(?: and \w+)? about "
                    r"([\d.]+) (mm|cm|m|km)$")


def route_planning(truth: SceneTruth, row: dict) -> Verdict:
    start, facing, goal = (truth.centre(i)[:2] for i in row["object_ids"])
    heading, bearing = facing - start, goal - start
    turn = math.degrees(math.atan2(heading[0] * bearing[1] - heading[1] * bearing[0], heading @ bearing))
    if abs((turn + 22.5) % 45.0 - 22.5) > 22.5 - SECTOR_DEG:
        return ambiguous(f"turn {turn:.1f}° on a 45° step boundary")
    step = int(round(turn / 45.0) * 45)
    step = 180 if abs(step) == 180 else step
    distance = float(np.linalg.norm(bearing))
    fits = []
    for option in row["answer"]["options"]:
        match = _ROUTE.match(option)
        if match is None:
            raise ValueError(f"cannot read route option {option!r}")
        side, angle, amount, unit = match.groups()
        said = 180 if option.startswith("turn around") else (int(angle) * (1 if side == "left" else -1) if side
                                                             else 0)
        if said == step:
            fits.append((abs(math.log(float(amount) * UNIT_M[unit] / distance)), option))
    if not fits:
        return Verdict(f"(no option turns {step}°)")
    fits.sort()
    if len(fits) > 1 and fits[1][0] - fits[0][0] < math.log(1 + TIE):
        return ambiguous("two options state distances equally close")
    return Verdict(fits[0][1])


def canonical(truth: SceneTruth, frame: int) -> np.ndarray:
    """World → the frame's horizontal camera frame: x its right made horizontal, y forward, z up."""
    right = truth.poses[frame][:3, 0].copy()
    right[2] = 0.0
    right /= np.linalg.norm(right)
    up = np.array([0.0, 0.0, 1.0])
    rotation = np.stack([right, np.cross(up, right), up])
    out = np.eye(4)
    out[:3, :3], out[:3, 3] = rotation, -rotation @ truth.poses[frame][:3, 3]
    return out


@dataclass(frozen=True)
class _Box:
    center: tuple[float, float, float]
    size: tuple[float, float, float]
    yaw_deg: float


def _in_frame(truth: SceneTruth, object_id: str, transform: np.ndarray) -> _Box:
    box = truth.box(object_id)
    yaw = math.radians(box.yaw_deg)
    direction = transform[:3, :3] @ np.array([math.cos(yaw), math.sin(yaw), 0.0])
    return _Box(tuple(transform[:3, :3] @ np.asarray(box.center) + transform[:3, 3]), tuple(box.size),
                math.degrees(math.atan2(direction[1], direction[0])))


PLAN_SIDES = {"left_of": (-1.0, 0.0), "right_of": (1.0, 0.0), "behind": (0.0, 1.0), "in_front_of": (0.0, -1.0)}


def manipulation_planning(truth: SceneTruth, row: dict) -> Verdict:
    """Each option executed literally from the moved object's true centre (frame 1's left/right/front/back) among
    every true box: the correct one ends beside the target on the asked side without running into a box; a
    distractor must run clearly into one. Exactly one option may work."""
    moved_id, target_id = row["object_ids"]
    transform = canonical(truth, row["video_frame_numbers"][0])
    boxes = {i: _in_frame(truth, i, transform) for i in truth.objects}
    moved, target = boxes[moved_id], boxes[target_id]
    obstacles = [b for i, b in boxes.items() if i != moved_id]
    floor = CONTACT_FLOOR_M[truth.tier]
    side = np.array(PLAN_SIDES[row["query"]["relation"]])
    working, unsure = [], []
    for option in row["answer"]["options"]:
        path = execute_plan_text(option, moved.center)
        depth = sweep_depth(path, moved, obstacles, step_m=floor / 2)
        end = _Box(tuple(path[-1]), moved.size, moved.yaw_deg)
        beside = _beside(end, target, side, floor)
        if depth <= 0.5 * floor and beside:
            working.append(option)
        elif depth < 1.5 * floor and beside:
            unsure.append(option)
    if unsure:
        return ambiguous(f"{len(unsure)} option(s) graze a box within the contact tolerance")
    if len(working) != 1:
        return Verdict(f"({len(working)} options work as worded)")
    return Verdict(working[0])


def _beside(end: _Box, target: _Box, side: np.ndarray, floor: float) -> bool:
    """The moved footprint lies past the target's on `side`, overlapping it across, within one length of it."""
    def reach(box: _Box, axis: np.ndarray) -> float:
        yaw = math.radians(box.yaw_deg)
        length_axis, width_axis = np.array([math.cos(yaw), math.sin(yaw)]), np.array([-math.sin(yaw), math.cos(yaw)])
        return abs(length_axis @ axis) * box.size[0] / 2 + abs(width_axis @ axis) * box.size[1] / 2

    across = np.array([-side[1], side[0]])
    offset = np.asarray(end.center[:2]) - np.asarray(target.center[:2])
    gap = offset @ side - reach(end, side) - reach(target, side)
    lateral = abs(offset @ across) < reach(end, across) + reach(target, across)
    return -floor <= gap <= max(end.size[0], target.size[0]) and lateral


def obstacle_location(truth: SceneTruth, row: dict) -> Verdict:
    """The source slides horizontally at its height toward the target's centre until their footprints touch; the
    first object at the slide's height (height ranges overlapping by ≥ 25% of the thinner) whose box the sliding
    box cuts into blocks it."""
    source_id, target_id = row["object_ids"][:2]
    names = json.loads(row["query"]["names"])
    source = truth.box(source_id)
    start = np.asarray(source.center, float)
    direction = np.zeros(3)
    direction[:2] = truth.centre(target_id)[:2] - start[:2]
    length = float(np.linalg.norm(direction))
    direction /= length
    width = min(source.size[:2])

    def gaps(other: str, travelled: np.ndarray) -> np.ndarray:
        return _footprint_gaps(start + travelled[:, None] * direction, source, truth.box(other))

    touch = _first_below(lambda ss: gaps(target_id, ss), 0.0, length)
    if touch is None:
        return ambiguous("the slide never reaches the target")
    hits, unsure = [], []
    lo, hi = truth.z_range(source_id)
    for other in truth.objects:
        if other in (source_id, target_id):
            continue
        olo, ohi = truth.z_range(other)
        thinner = min(hi - lo, ohi - olo)
        share = (min(hi, ohi) - max(lo, olo)) / thinner
        if abs(share - 0.25) < 0.05:
            unsure.append(other)
            continue
        if share < 0.25:
            continue
        clearance = float(gaps(other, np.linspace(0.0, touch, 400)).min())
        if abs(clearance) < 0.1 * width:
            unsure.append(other)
        elif clearance < 0:
            hits.append((_first_below(lambda ss, o=other: gaps(o, ss), 0.0, touch), other))
    if unsure:
        return ambiguous("an object grazes the slide or stands at its height's limit")
    if not hits:
        return Verdict(NOTHING)
    hits.sort()
    if len(hits) > 1 and hits[1][0] - hits[0][0] < 0.1 * width:
        return ambiguous("two objects block at about the same place")
    blocker = hits[0][1]
    return Verdict(names.get(blocker, f"the {truth.objects[blocker].category.replace('_', ' ')}"))


def _first_below(gaps, start: float, end: float, samples: int = 400) -> float | None:
    """First s in [start, end] where gaps(s) < 0 (`gaps` maps an array of s to an array), refined by bisection;
    None if the gap stays ≥ 0."""
    ss = np.linspace(start, end, samples)
    below = np.flatnonzero(gaps(ss) < 0)
    if not len(below):
        return None
    if below[0] == 0:
        return start
    lo, hi = ss[below[0] - 1], ss[below[0]]
    for _ in range(40):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if gaps(np.array([mid]))[0] < 0 else (mid, hi)
    return float(hi)


def _footprint_corners(centres: np.ndarray, box) -> np.ndarray:
    """Footprint corners [n, 4, 2] of `box` placed at each of `centres` [n, 2+]."""
    yaw = math.radians(box.yaw_deg)
    rot = np.array([[math.cos(yaw), -math.sin(yaw)], [math.sin(yaw), math.cos(yaw)]])
    offsets = np.array([[sx, sy] for sx in (-1, 1) for sy in (-1, 1)]) * (np.array(box.size[:2]) / 2) @ rot.T
    return np.atleast_2d(centres)[:, None, :2] + offsets[None]


def _axes(box) -> np.ndarray:
    yaw = math.radians(box.yaw_deg)
    return np.array([[math.cos(yaw), math.sin(yaw)], [-math.sin(yaw), math.cos(yaw)]])


def _footprint_gaps(centres: np.ndarray, moved, other) -> np.ndarray:
    """Separating-axis gap between the moved footprint placed at each of `centres` and `other`'s footprint
    (negative: overlap depth)."""
    a = _footprint_corners(centres, moved)
    b = _footprint_corners(np.asarray(other.center), other)
    axes = np.concatenate([_axes(moved), _axes(other)])
    pa, pb = a @ axes.T, b @ axes.T  # [n, 4, 4 axes], [1, 4, 4 axes]
    gaps = np.maximum(pb.min(axis=1) - pa.max(axis=1), pa.min(axis=1) - pb.max(axis=1))
    return gaps.max(axis=1)


# --- spatial relation ------------------------------------------------------------------------------------------
def spatial_relation(truth: SceneTruth, row: dict) -> Verdict:
    """a's relation to b by the definitions the question's options carry: contact within 5% of a's height (at least
    the tier's floor), surfaces within 1.5 tolerances touch; separated objects are next to within 0.75 of the
    smaller length, near within 3, far beyond; ambiguous within a quarter of each band's margin."""
    a, b = row["object_ids"]
    tol = max(0.05 * truth.box(a).size[2], CONTACT_FLOOR_M[truth.tier])
    doubt: list[str] = []

    def at_least(value: float, threshold: float, margin: float, what: str) -> bool:
        if abs(value - threshold) < 0.25 * margin:
            doubt.append(what)
        return value >= threshold

    gap = float(_footprint_gaps(np.asarray(truth.box(a).center), truth.box(a), truth.box(b))[0])
    scale = min(truth.box(a).size[0], truth.box(b).size[0])
    if at_least(gap, 0.75 * scale, 0.25 * scale, "gap next to / near"):
        found = "far from" if at_least(gap, 3.0 * scale, 0.5 * scale, "gap near / far") else "near but not touching"
    else:
        (a_lo, a_hi), (b_lo, b_hi) = truth.z_range(a), truth.z_range(b)
        above, below = a_lo - b_hi, b_lo - a_hi
        if at_least(above, 1.5 * tol, 0.5 * tol, "gap above"):
            vertical = "over"
        elif at_least(below, 1.5 * tol, 0.5 * tol, "gap below"):
            vertical = "under"
        elif at_least(above, -1.5 * tol, 0.5 * tol, "gap above") and at_least(a_lo, (b_lo + b_hi) / 2, tol, "on"):
            vertical = "on"
        elif at_least(below, -1.5 * tol, 0.5 * tol, "gap below") and at_least(b_lo, (a_lo + a_hi) / 2, tol, "sup"):
            vertical = "supports"
        else:
            thinner = min(a_hi - a_lo, b_hi - b_lo)
            overlap = min(a_hi, b_hi) - max(a_lo, b_lo)
            vertical = "level" if at_least(overlap, 0.5 * thinner, 0.15 * thinner, "level") else "partial"
        if at_least(gap, -tol, tol, "footprint contact"):
            found = "next to" if vertical == "level" else "close but not side by side"
        elif vertical == "level":
            inset = _footprint_inset(truth.box(a), truth.box(b))
            contained = (not at_least(inset, 0.0, tol, "inset") and at_least(a_lo, b_lo - 1.5 * tol, 0.5 * tol, "floor")
                         and not at_least(truth.box(a).center[2], b_hi, tol, "centre height"))
            found = "inside" if contained else "interpenetrating"
        else:
            found = {"on": "resting on top of", "supports": "supporting", "over": "hanging above"}.get(
                vertical, f"vertically {vertical}")
    if doubt:
        return ambiguous(f"within the margin of: {', '.join(doubt)}")
    if found in ("near but not touching", "far from") and "not touching" in row["answer"]["options"]:
        return Verdict("not touching" if found not in row["answer"]["options"] else f"(both {found!r} and "
                       f"'not touching' are true)")
    return Verdict(found)


def _footprint_inset(inner, outer) -> float:
    """How far `inner`'s footprint pokes out of `outer`'s (≤ 0: inside)."""
    local = (_footprint_corners(np.asarray(inner.center), inner)[0] - np.asarray(outer.center[:2])) @ _axes(outer).T
    return float((np.abs(local) - np.array(outer.size[:2]) / 2).max())


MC_TRUTH = {
    "position_comparison": position_comparison, "size_comparison": size_comparison,
    "relative_distance": relative_distance, "existence": existence, "appearance_order": appearance_order,
    "view_change": view_change, "navigation": navigation,
    "route_planning": route_planning, "manipulation_planning": manipulation_planning,
    "obstacle_location": obstacle_location, "spatial_relation": spatial_relation,
}


def mc_truth(truth: SceneTruth, row: dict, output_root: Path) -> Verdict:
    if row["task_type"] == "object_matching":
        return object_matching(truth, row, output_root)
    return MC_TRUTH[row["task_type"]](truth, row)
