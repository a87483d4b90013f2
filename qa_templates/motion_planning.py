"""Box geometry and the OMPL planner shared by manipulation_planning, obstacle_location and spatial_relation.

Objects are gravity-aligned boxes: a footprint rectangle turned by its yaw, extruded over its height. A moved box
only translates, so its configuration is its centre, and every other box becomes a configuration-space obstacle:
the Minkowski sum of its footprint with the moved footprint (mirrored), extruded over the sum of the two heights.
This is the obstacle inflated by the moved box, exact for any pair of yaws. Such an obstacle is a convex prism
kept as half-spaces n·p ≤ b; `value = max(n·p − b)` is positive outside (a lower bound of the Euclidean gap,
equal to it off the corners) and minus the penetration depth inside. Every test below is exact on these prisms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import ompl.base as ob
import ompl.geometric as og
import ompl.util as ou

from schemas.tiers import ScaleTier

CONTACT_EPS_M = 1e-6
"""Penetration below this is contact (an object resting on another), not a collision."""
CONTACT_FLOOR_M = {ScaleTier.TINY_TABLETOP: 0.001, ScaleTier.TABLETOP: 0.01, ScaleTier.INDOOR: 0.02,
                   ScaleTier.OUTDOOR: 0.1, ScaleTier.DRONE: 1.0}
"""Smallest contact tolerance per tier: 1 cm × the tier's scale (1 mm for mm-scale objects)."""
PLANNING_CHECKS = 20_000
"""Budget of one plan, in state validity checks (no plan of the QA benchmark's scenes needs that many). A count,
not seconds: whether a plan is found must not depend on how busy the machine is, or the same scene and seed would
ask other questions under load. RRT-Connect stops at its first solution, so the budget only bounds searches that
find none."""


@dataclass(frozen=True)
class Box:
    """A gravity-aligned box: centre, (length, width, height), yaw of the length axis about up (degrees)."""

    center: tuple[float, float, float]
    size_lwh: tuple[float, float, float]
    yaw_deg: float = 0.0

    @classmethod
    def of(cls, obj) -> Box:
        """From an ObjectFact (or anything with center, size_lwh, yaw_deg); a Box is itself."""
        if isinstance(obj, Box):
            return obj
        return cls(tuple(map(float, obj.center)), tuple(map(float, obj.size_lwh)), float(obj.yaw_deg))

    def footprint(self) -> np.ndarray:
        """Footprint corners (4, 2), counter-clockwise."""
        yaw = np.radians(self.yaw_deg)
        length_axis, width_axis = np.array([np.cos(yaw), np.sin(yaw)]), np.array([-np.sin(yaw), np.cos(yaw)])
        half_l, half_w = self.size_lwh[0] / 2.0, self.size_lwh[1] / 2.0
        signs = ((1, 1), (-1, 1), (-1, -1), (1, -1))
        return np.array(self.center[:2]) + np.array([sl * half_l * length_axis + sw * half_w * width_axis
                                                     for sl, sw in signs])

    @property
    def z_range(self) -> tuple[float, float]:
        return self.center[2] - self.size_lwh[2] / 2.0, self.center[2] + self.size_lwh[2] / 2.0


@dataclass(frozen=True)
class Prism:
    """A convex vertical prism as half-spaces: normals (k, 3), offsets (k,)."""

    normals: np.ndarray
    offsets: np.ndarray

    def value(self, point: np.ndarray) -> float:
        return float(np.max(self.normals @ np.asarray(point, dtype=float) - self.offsets))


def contact_tolerance(obj, tier: ScaleTier) -> float:
    """How close two surfaces must be to count as touching: 5% of the object's height, at least the tier floor."""
    return max(0.05 * float(obj.size_lwh[2]), CONTACT_FLOOR_M[tier])


@lru_cache(maxsize=65536)
def c_obstacle(obstacle: Box, moved: Box) -> Prism:
    """Where the moved box's centre may not go: the obstacle inflated by the moved box (exact Minkowski sum).
    Cached: planning, distractor checks and relations ask for the same pairs many times."""
    moved_corners = moved.footprint() - np.array(moved.center[:2])
    points = (obstacle.footprint()[:, None, :] - moved_corners[None, :, :]).reshape(-1, 2)
    polygon = _convex_hull(points)
    edges = np.roll(polygon, -1, axis=0) - polygon
    normals_xy = np.stack([edges[:, 1], -edges[:, 0]], axis=1)
    normals_xy /= np.linalg.norm(normals_xy, axis=1, keepdims=True)
    low, high = obstacle.z_range
    half_h = moved.size_lwh[2] / 2.0
    normals = np.vstack([np.hstack([normals_xy, np.zeros((len(polygon), 1))]), [[0, 0, 1], [0, 0, -1]]])
    offsets = np.concatenate([np.einsum("ij,ij->i", normals_xy, polygon), [high + half_h, -(low - half_h)]])
    return Prism(normals, offsets)


@lru_cache(maxsize=65536)
def footprint_prism(obstacle: Box, moved: Box) -> Prism:
    """The inflated obstacle's footprint alone: where the moved box's centre may not go at any height."""
    prism = c_obstacle(obstacle, moved)
    return Prism(prism.normals[:-2], prism.offsets[:-2])


@lru_cache(maxsize=65536)
def footprint_gap(a: Box, b: Box) -> float:
    """Horizontal gap between two footprints (separating-axis distance); negative = overlap depth."""
    return footprint_prism(b, a).value(np.array([*a.center[:2], 0.0]))


@lru_cache(maxsize=65536)
def footprint_inset(inner: Box, outer: Box) -> float:
    """How far `inner`'s footprint pokes out of `outer`'s: ≤ 0 when it lies inside (minus the smallest margin)."""
    outer_prism = footprint_prism(outer, Box(outer.center, (0.0, 0.0, 0.0)))
    values = inner.footprint() @ outer_prism.normals[:, :2].T - outer_prism.offsets
    return float(values.max())


def segment_clearance(prism: Prism, start: np.ndarray, end: np.ndarray) -> float:
    """Smallest prism value along the segment (exact: the minimum of a max of linear functions)."""
    base = prism.normals @ np.asarray(start, dtype=float) - prism.offsets
    slope = prism.normals @ (np.asarray(end, dtype=float) - np.asarray(start, dtype=float))
    i, j = _face_pairs(len(base))
    differ = slope[i] != slope[j]
    crossings = (base[j][differ] - base[i][differ]) / (slope[i][differ] - slope[j][differ])
    ts = np.concatenate([[0.0, 1.0], crossings[(crossings > 0.0) & (crossings < 1.0)]])
    return float(np.minimum.reduce(np.maximum.reduce(base[None, :] + ts[:, None] * slope[None, :], axis=1)))


def entry_fraction(prism: Prism, start: np.ndarray, end: np.ndarray) -> float | None:
    """Fraction of the segment travelled before it penetrates the prism (beyond contact); None if it never does."""
    base = prism.normals @ np.asarray(start, dtype=float) - prism.offsets + CONTACT_EPS_M
    slope = prism.normals @ (np.asarray(end, dtype=float) - np.asarray(start, dtype=float))
    low, high = 0.0, 1.0
    for a, s in zip(base, slope):
        if abs(s) < 1e-15:
            if a > 0:
                return None
        elif s > 0:
            high = min(high, -a / s)
        else:
            low = max(low, -a / s)
    return low if low < high else None


def path_collides(waypoints: Sequence[Sequence[float]], moved_size, obstacles: Sequence) -> bool:
    """True when the moved box, translated along the straight segments between `waypoints` (its centre),
    penetrates any obstacle box by more than CONTACT_EPS_M (resting on or touching a box is no collision).

    `moved_size` is the moved object itself (ObjectFact or Box: size and yaw are used) or a bare
    (length, width, height) for a box aligned with the canonical axes; obstacles are ObjectFacts or Boxes.
    """
    return path_clearance(waypoints, moved_size, obstacles) < -CONTACT_EPS_M


def path_clearance(waypoints: Sequence[Sequence[float]], moved_size, obstacles: Sequence) -> float:
    """The least clearance along the path (arguments as `path_collides`): positive, a lower bound of the gap to
    the nearest obstacle; negative, minus the deepest penetration into one (exact). +inf without obstacles."""
    return min(obstacle_clearances(waypoints, moved_size, obstacles), default=float("inf"))


def path_blockers(waypoints: Sequence[Sequence[float]], moved_size, obstacles: Sequence) -> list[int]:
    """Indices of the obstacles the path collides with (arguments and rule as `path_collides`)."""
    return [k for k, clearance in enumerate(obstacle_clearances(waypoints, moved_size, obstacles))
            if clearance < -CONTACT_EPS_M]


def obstacle_clearances(waypoints: Sequence[Sequence[float]], moved_size, obstacles: Sequence
                        ) -> tuple[float, ...]:
    """`path_clearance` against each obstacle in turn."""
    moved = Box.of(moved_size) if hasattr(moved_size, "size_lwh") else Box((0.0, 0.0, 0.0), tuple(moved_size))
    points = np.asarray(waypoints, dtype=float)
    boxes = tuple(Box.of(o) for o in obstacles)
    per_segment = [_segment_clearances(points[k:k + 2].tobytes(), moved, boxes) for k in range(len(points) - 1)]
    return tuple(min(values) for values in zip(*per_segment)) if per_segment else (float("inf"),) * len(boxes)


@lru_cache(maxsize=65536)
def _segment_clearances(segment_bytes: bytes, moved: Box, obstacles: tuple[Box, ...]) -> tuple[float, ...]:
    """`segment_clearance` of one straight move against each obstacle, cached by value: a scene checks the same
    moves for every question (and phrasing) that asks about the same objects, and a plan's look-alikes and the
    straight alternatives share most of their moves."""
    start, end = np.frombuffer(segment_bytes).reshape(2, -1)
    return tuple(segment_clearance(c_obstacle(o, moved), start, end) for o in obstacles)


def plan_path(start: np.ndarray, goal: np.ndarray, moved: Box, obstacles: Sequence[Box], floor_z: float,
              clearance: float, seed: int) -> list[np.ndarray] | None:
    """A path of the moved box's centre from its resting pose `start` to the resting pose `goal` (both on the
    floor): lift straight up until clear, RRTConnect (OMPL, 3-D) between the lifted poses keeping `clearance`
    from every obstacle and the floor, path simplification, set straight down. Every segment keeps at least half
    the clearance from every obstacle. None when no such plan exists."""
    prisms = [c_obstacle(o, moved) for o in obstacles]
    start, goal = np.asarray(start, dtype=float), np.asarray(goal, dtype=float)
    lifted_start, lifted_goal = (_lift_until_clear(p, prisms, clearance) for p in (start, goal))
    half_h = moved.size_lwh[2] / 2.0
    tops = [o.z_range[1] for o in obstacles] + [lifted_start[2] - half_h, lifted_goal[2] - half_h]
    low_z, high_z = floor_z + half_h + clearance, max(tops) + half_h + 3.0 * clearance
    if any(segment_clearance(prism, rest, lifted) < clearance / 2.0 for prism in prisms
           for rest, lifted in ((start, lifted_start), (goal, lifted_goal))):
        return None
    corners = np.vstack([o.footprint() for o in obstacles] + [start[None, :2], goal[None, :2]])
    reach = float(np.hypot(*moved.size_lwh[:2])) / 2.0 + 3.0 * clearance
    low_xy, high_xy = corners.min(axis=0) - reach, corners.max(axis=0) + reach

    space = ob.RealVectorStateSpace(3)
    bounds = ob.RealVectorBounds(3)
    for axis, (lo, hi) in enumerate(zip([*low_xy, low_z], [*high_xy, high_z])):
        bounds.setLow(axis, float(lo))
        bounds.setHigh(axis, float(hi))
    space.setBounds(bounds)
    ou.setLogLevel(ou.LOG_NONE)
    ou.RNG.setSeed(int(seed))
    setup = og.SimpleSetup(space)
    normals, offsets = _stack(prisms)

    checks = [0]

    def clear(state, array=np.array, matmul=np.matmul, nearest=np.minimum.reduce, outside=np.maximum.reduce) -> bool:
        """Called by OMPL for every state it checks (thousands per plan): five numpy calls, no Python wrappers."""
        checks[0] += 1
        if not prisms:
            return True
        values = matmul(normals, array((state[0], state[1], state[2])))
        values -= offsets
        return bool(nearest(outside(values, axis=1)) >= clearance)

    setup.setStateValidityChecker(clear)
    info = setup.getSpaceInformation()
    info.setStateValidityCheckingResolution(clearance / 2.0 / space.getMaximumExtent())
    ompl_start, ompl_goal = space.allocState(), space.allocState()
    for axis in range(3):
        ompl_start[axis], ompl_goal[axis] = float(lifted_start[axis]), float(lifted_goal[axis])
    setup.setStartAndGoalStates(ompl_start, ompl_goal)
    setup.setPlanner(og.RRTConnect(info))
    setup.solve(ob.PlannerTerminationCondition(lambda: checks[0] >= PLANNING_CHECKS))
    if not setup.haveExactSolutionPath():
        return None
    path = setup.getSolutionPath()
    og.PathSimplifier(info).simplifyMax(path)
    transit = [np.array([s[0], s[1], s[2]]) for s in path.getStates()]
    waypoints = [start, *transit, goal]
    if any(segment_clearance(prism, p, q) < clearance / 2.0 for p, q in zip(transit[:-1], transit[1:])
           for prism in prisms):
        return None
    return waypoints


@lru_cache(maxsize=64)
def _face_pairs(k: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair of k faces (i < j), as index arrays."""
    return np.triu_indices(k, k=1)


def _lift_until_clear(point: np.ndarray, prisms: Sequence[Prism], clearance: float) -> np.ndarray:
    """The resting pose raised by twice the clearance, then above every obstacle it is still too close to."""
    lifted = point + np.array([0.0, 0.0, 2.0 * clearance])
    for _ in range(len(prisms) + 1):
        close = [p for p in prisms if p.value(lifted) < clearance]
        if not close:
            break
        lifted[2] = max(p.offsets[-2] for p in close) + 2.0 * clearance
    return lifted


def _stack(prisms: Sequence[Prism]) -> tuple[np.ndarray, np.ndarray]:
    """Prisms as padded arrays (P, K, 3) and (P, K); padding rows never win the max (offset +inf)."""
    k = max((len(p.offsets) for p in prisms), default=0)
    normals, offsets = np.zeros((len(prisms), k, 3)), np.full((len(prisms), k), np.inf)
    for row, prism in enumerate(prisms):
        normals[row, :len(prism.offsets)], offsets[row, :len(prism.offsets)] = prism.normals, prism.offsets
    return normals, offsets


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise hull of 2-D points (monotone chain), without collinear vertices."""
    pts = sorted(map(tuple, np.round(points, 12)))

    def half(seq):
        out: list[tuple[float, float]] = []
        for p in seq:
            while len(out) >= 2 and ((out[-1][0] - out[-2][0]) * (p[1] - out[-2][1])
                                     - (out[-1][1] - out[-2][1]) * (p[0] - out[-2][0])) <= 0:
                out.pop()
            out.append(p)
        return out

    lower, upper = half(pts), half(reversed(pts))
    return np.array(lower[:-1] + upper[:-1])
