"""What the measurement questions mean: absolute distance is the closest distance between the two objects' boxes
(exact, checked against brute-force sampling of the box surfaces and against the ground-truth oracle's separate
feature-based method), centre to centre only where the question says centres; depth is along the viewing axis."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from qa_templates.absolute_distance import CENTRE_PHRASINGS, CLOSEST_PHRASINGS, AbsoluteDistance
from qa_templates.depth_estimation import PHRASINGS as DEPTH_PHRASINGS
from qa_templates.geometry import box_distance
from schemas.annotations import OrientedBox
from schemas.tiers import ScaleTier
from tests import ground_truth
from tests.builders import orbit_track, scene_facts
from tests.test_qa_measurement_tasks import run

GRID = 24


def surface_points(box: OrientedBox) -> tuple[np.ndarray, float]:
    """Points on a GRID × GRID lattice over each of the box's six faces, and the lattice's largest cell
    diagonal (every surface point lies within half of it of a sample)."""
    centre, rotation, half = ground_truth.box_frame(box)
    u = np.linspace(-1.0, 1.0, GRID)
    a, b = (g.ravel() for g in np.meshgrid(u, u))
    faces = []
    for axis in range(3):
        others = [k for k in range(3) if k != axis]
        for sign in (-1.0, 1.0):
            local = np.zeros((len(a), 3))
            local[:, axis], local[:, others[0]], local[:, others[1]] = sign, a, b
            faces.append(local)
    local = np.concatenate(faces) * half
    cell = 2.0 * half / (GRID - 1)
    return centre + local @ rotation.T, float(np.sqrt(np.sum(np.sort(cell)[1:] ** 2)))


def random_pair(rng: np.random.Generator) -> tuple[OrientedBox, OrientedBox]:
    """Two boxes placed to meet every case: apart, edge to edge, corner to face, stacked, overlapping."""
    first = OrientedBox(center=(0.0, 0.0, 0.5), size=tuple(rng.uniform(0.2, 1.5, 3)), yaw_deg=rng.uniform(-90, 90))
    offset = rng.uniform(-1.5, 1.5, 3) * rng.choice([0.3, 1.0, 2.0])
    second = OrientedBox(center=tuple(np.array(first.center) + offset), size=tuple(rng.uniform(0.05, 1.5, 3)),
                         yaw_deg=rng.uniform(-90, 90))
    return first, second


class _Fact:
    """The fields box_distance reads from an ObjectFact, from an annotated box."""

    def __init__(self, box: OrientedBox):
        self.center, self.size_lwh, self.yaw_deg = box.center, box.size, box.yaw_deg
        self.bottom_z, self.top_z = box.center[2] - box.size[2] / 2, box.center[2] + box.size[2] / 2


def test_box_distance_is_exact_against_brute_force_sampling_and_the_oracle():
    rng = np.random.default_rng(7)
    apart = 0
    for _ in range(150):
        a, b = random_pair(rng)
        exact, oracle = box_distance(_Fact(a), _Fact(b)), ground_truth.box_distance(a, b)
        (points_a, cell_a), (points_b, cell_b) = surface_points(a), surface_points(b)
        sampled = float(cKDTree(points_b).query(points_a)[0].min())
        assert exact == pytest.approx(oracle, abs=1e-9)
        assert exact <= sampled + 1e-9 and sampled <= exact + (cell_a + cell_b) / 2 + 1e-9, (a, b, exact, sampled)
        apart += exact > 0
    assert 50 < apart < 150  # both cases met


def test_box_distance_is_not_the_centre_distance():
    """Two 1 m cubes side by side, 0.5 m apart: centres are 1.5 m apart, the closest points 0.5 m."""
    cube = OrientedBox(center=(0.0, 0.0, 0.5), size=(1.0, 1.0, 1.0))
    beside = OrientedBox(center=(1.5, 0.0, 0.5), size=(1.0, 1.0, 1.0), yaw_deg=0.0)
    turned = OrientedBox(center=(1.5, 0.0, 0.5), size=(1.0, 1.0, 1.0), yaw_deg=45.0)
    assert box_distance(_Fact(cube), _Fact(beside)) == pytest.approx(0.5)
    assert box_distance(_Fact(cube), _Fact(turned)) == pytest.approx(1.5 - 0.5 - np.sqrt(0.5))
    above = OrientedBox(center=(1.5, 0.0, 2.5), size=(1.0, 1.0, 1.0))
    assert box_distance(_Fact(cube), _Fact(above)) == pytest.approx(np.hypot(0.5, 1.0))


OBJECTS = [("sofa", (0.0, 1.5, 0.4), (2.0, 0.9, 0.8), 10.0), ("table", (0.5, -1.0, 0.35), (1.2, 0.8, 0.7), 0.0),
           ("lamp", (-2.2, 0.2, 0.8), (0.4, 0.4, 1.6), 0.0), ("chair", (2.4, 0.3, 0.45), (0.5, 0.5, 0.9), 30.0),
           ("plant", (-1.5, -2.0, 0.5), (0.5, 0.5, 1.0), 0.0)]


def test_absolute_distance_asks_the_closest_distance_and_says_centres_where_it_means_them():
    facts = scene_facts(ScaleTier.INDOOR, OBJECTS, orbit_track(radius=5.0, height=1.6, n_frames=8, arc_deg=90.0))
    boxes = {f"scene/{i + 1}": OrientedBox(center=c, size=s, yaw_deg=y) for i, (_, c, s, y) in enumerate(OBJECTS)}
    rows, _ = run(AbsoluteDistance(), facts)
    kinds = {row.query["between"] for row in rows}
    assert kinds == {"surfaces", "centres"}
    for row in rows:
        a, b = (boxes[i] for i in row.object_ids)
        if row.query["between"] == "centres":
            truth = float(np.linalg.norm(np.subtract(a.center, b.center)))
            assert "centre" in row.question
        else:
            truth = ground_truth.box_distance(a, b)
            assert "centre" not in row.question and "closest" in row.question + row.rationale
        assert row.answer.value_si == pytest.approx(truth, abs=1e-9)
    closest = [r for r in rows if r.query["between"] == "surfaces"]
    assert len(closest) > len(rows) / 2
    assert all("centre" not in p for p in CLOSEST_PHRASINGS) and all("centre" in p for p in CENTRE_PHRASINGS)


def test_depth_questions_say_the_depth_is_along_the_viewing_axis():
    for phrasing in DEPTH_PHRASINGS:
        assert "viewing axis" in phrasing or "optical axis" in phrasing
