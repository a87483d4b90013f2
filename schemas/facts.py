"""Metric 3D facts about a scene: the layer every QA template reads (tables `scenes`, `objects`, `cameras`).

All geometry is in the scene's canonical frame: origin at the first keyframe's camera centre, z = up (gravity),
x = that camera's right axis made horizontal, y = z × x (its forward direction made horizontal). Metres throughout.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.tiers import ScaleTier

Vec2 = tuple[float, float]
Vec3 = tuple[float, float, float]
BoxXYXY = tuple[float, float, float, float]


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Provenance(_Row):
    """Which producer a fact rests on: a native annotation or a specialist (name, model id, weights hash, params)."""

    depth: str = Field(description="e.g. 'native:depth.npz' or 'depth_anything:<model>@<sha>'")
    poses: str
    masks: str


class CameraFact(_Row):
    """One keyframe's camera in the canonical frame."""

    scene_id: str
    video_id: str
    frame_index: int = Field(ge=0)
    keyframe_rank: int = Field(ge=0, description="0 for the canonical (first) keyframe")
    timestamp_s: float = Field(ge=0)
    fx: float = Field(gt=0)
    fy: float = Field(gt=0)
    cx: float
    cy: float
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    camera_to_canonical: tuple[float, ...] = Field(min_length=16, max_length=16, description="4×4 row-major")
    frame_path: str = Field(description="content-addressed keyframe image, relative to the output root")


class ObjectObservation(_Row):
    """How one object appears in one keyframe (for visual prompts and per-frame questions)."""

    frame_index: int = Field(ge=0)
    bbox_xyxy: BoxXYXY
    point_xy: Vec2 = Field(description="a pixel inside the mask, near its medoid")
    pixel_count: int = Field(gt=0)
    median_depth_m: float = Field(gt=0)
    complete: bool = Field(description="the whole silhouette is seen: not cut by the image border, not hidden "
                                       "behind a nearer surface")
    mask_path: str | None = Field(description="content-addressed binary mask PNG, relative to the output root; "
                                  "None where only a box is known")


class ObjectFact(_Row):
    """An object instance lifted to metric 3D, fused over keyframes."""

    scene_id: str
    object_id: str = Field(description="'<scene_id>/<instance_id>'")
    instance_id: int = Field(ge=1)
    category: str
    scale: ScaleTier
    center: Vec3
    size_lwh: Vec3 = Field(description="length ≥ width (horizontal, along yaw), height (along up); metres")
    yaw_deg: float
    bottom_z: float
    top_z: float
    height_px: float = Field(ge=0, description="the object's height in pixels in its nearest complete view: "
                                               "below a few pixels the height is not resolved")
    n_points: int = Field(gt=0)
    n_keyframes_seen: int = Field(ge=1)
    n_complete_views: int = Field(ge=0, description="keyframes where the object's whole silhouette is seen")
    first_seen_frame: int = Field(ge=0)
    footprint_coverage: float = Field(ge=0, le=1, description="how fully complete views pin the footprint down: "
                                      "the top face across it, or two adjacent side faces along their length")
    footprint_ambiguous: bool = Field(default=False, description="two footprints of different size or centre "
                                                                 "explain the points about equally well (no side "
                                                                 "faces decide the orientation)")
    observations: list[ObjectObservation]
    provenance: Provenance
    from_box: bool = Field(default=False, description="size, centre and yaw are an annotated 3D box's (exact, "
                                                      "whatever was seen of it), not lifted from points")


class SightedBounds(_Row):
    """A gravity-aligned box the instance lies within, for an instance that shows but is not among the objects
    (never seen at 20×20 px in a keyframe): planners keep clear of it. Its annotated box where the source has
    boxes; else the bounding rectangle of its seen points grown on every side by their largest extent (an object
    reaches behind its seen surface no farther than it is wide) and at least 5% of its distance (depth error)."""

    center: Vec3
    size_lwh: Vec3 = Field(description="length ≥ width (horizontal, along yaw), height; metres")
    yaw_deg: float


class Sighting(_Row):
    """Where an instance shows in the video at pixel level (occlusion included), over every frame whose instance
    masks are known: what a question about what "appears in the video" rests on, however small it shows."""

    instance_id: int = Field(ge=1)
    category: str
    first_frame: int = Field(ge=0, description="first frame with any pixel of it")
    first_clear_frame: int | None = Field(description="first frame where its mask box is at least 20×20 px; None "
                                                      "when it never is (visible, but too small to be sure)")
    n_frames: int = Field(ge=1, description="frames with any pixel of it")
    bounds: SightedBounds | None = Field(default=None, description="where an instance that is not an object of "
                                         "the facts lies, conservatively (planners avoid it); None for an object, "
                                         "and for an instance with no keyframe pixel of known depth")


class RoomFact(_Row):
    """Room extents from the dominant planes: walls give the floor outline; the height (and so the volume) is
    known only where the ceiling was seen."""

    floor_area_m2: float = Field(gt=0)
    length_m: float = Field(gt=0)
    width_m: float = Field(gt=0)
    height_m: float | None = Field(default=None, gt=0)
    volume_m3: float | None = Field(default=None, gt=0)
    center: Vec2 = Field(description="floor outline centre (x, y)")
    yaw_deg: float


class SceneFact(_Row):
    scene_id: str
    video_id: str
    source: str
    scale: ScaleTier
    tier_from: Literal["metadata", "extent"]
    extent_m: float = Field(gt=0, description="horizontal diagonal of what was reconstructed")
    n_keyframes: int = Field(ge=1)
    n_objects: int = Field(ge=0)
    fps: float = Field(gt=0)
    room: RoomFact | None = None
    provenance: Provenance
    sightings: list[Sighting] = Field(default_factory=list, description="every instance that shows at pixel level, "
                                      "objects too small to lift included")
    sightings_from: Literal["all_frames", "keyframes"] = Field(
        default="keyframes", description="the frames `sightings` were read over: every frame of the video where "
                                         "the source has per-frame masks, else the keyframes")
    metric: bool = Field(default=True, description="False for a source in its own (SfM) units that nothing put "
                                                   "to scale: its metric tasks are gated out")
    scale_method: Literal["depth_ratio", "size_prior"] | None = Field(
        default=None, description="how up-to-scale SfM poses were made metric; None for native (metric) poses")
    scale_m_per_unit: float | None = Field(default=None, gt=0, description="metres per SfM unit")
    scale_relative_mad: float | None = Field(
        default=None, ge=0, description="spread of the scale estimate's samples (median |ratio − scale| / scale)")
    scale_uncertainty: float | None = Field(
        default=None, ge=0, description="relative error the estimated scale stays within in 95 % of calibration "
                                        "scenes: metric answers of the scene are off by up to this share")
    scale_weakness: str | None = Field(
        default=None, description="why the reconstruction behind the estimated scale is too weak for metric "
                                  "answers (few keyframes registered, no baseline); None when it is not")


class SceneFacts(BaseModel):
    """Everything QA generation may read about one scene."""

    model_config = ConfigDict(frozen=True)

    scene: SceneFact
    objects: list[ObjectFact]
    cameras: list[CameraFact] = Field(min_length=1, description="keyframes in time order")
