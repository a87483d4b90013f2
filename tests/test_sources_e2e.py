"""One real `spacevista curate` (Prefect + Ray) over a data root holding every dataset layout at once: each item is
auto-detected, curated by its own source, and recorded with it in `videos` and `scenes`."""

from __future__ import annotations

import pytest

from schemas.paths import source_scene_id
from schemas.tiers import ScaleTier
from sources.synthetic import RenderSettings, generate_scene
from storage.catalog import open_catalog
from storage.layout import OutputLayout
from tests.conftest import run_curate
from tests.datasets.arkitscenes_writer import write_arkitscenes
from tests.datasets.dl3dv_writer import write_dl3dv
from tests.datasets.nuscenes_writer import write_nuscenes
from tests.datasets.wildrgbd_writer import write_wildrgbd


@pytest.mark.e2e
def test_a_mixed_data_root_is_curated_source_by_source(tmp_path):
    root = tmp_path / "data"
    expected = {write_wildrgbd(root, tier=ScaleTier.TABLETOP, seed=3).scene_id: "wildrgbd",
                write_arkitscenes(root, seed=5).scene_id: "arkitscenes",
                write_dl3dv(root, seed=7).scene_id: "dl3dv",
                write_nuscenes(root, seed=8).scene_id: "nuscenes"}
    generate_scene(ScaleTier.TABLETOP, 1, root / "annotated" / "tabletop_001",
                   settings=RenderSettings(width=256, height=192, num_frames=12))
    expected["annotated__tabletop_001"] = "annotated"  # a nested scene folder: its path is its id
    run = run_curate(root, tmp_path / "out", "--no-default-data")
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    with open_catalog(OutputLayout(run.output)) as con:
        videos = {source_scene_id(s): source for s, source in con.sql("SELECT scene_id, source FROM videos").fetchall()}
        qa = dict(con.sql("SELECT v.source, count(*) FROM qa JOIN videos v USING (video_id) GROUP BY 1").fetchall())
        failures = con.execute("SELECT count(*) FROM failures").fetchone()[0]
    assert videos == expected and failures == 0
    assert set(qa) == set(expected.values()) and min(qa.values()) > 0, qa
