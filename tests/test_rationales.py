"""VLM rationales: kept only when the model's own answer agrees with the stored one, through a real loopback server."""

from __future__ import annotations

import pytest

from schemas.evaluation import AddRationalesConfig, EndpointConfig, RationaleConfig
from storage.layout import OutputLayout
from storage.catalog import query
from tests.eval_builders import ChatServer, commit_qa, frames, mc_row, numeric_row
from tests.flow_runner import run_flow
from training.chat import EndpointUnavailable
from training.evaluate import load_qa
from training.rationales import (
    DISAGREEMENT_REASON,
    RATIONALE_INSTRUCTION,
    RationaleCounts,
    curate_rationales,
    model_rationale,
    rewrite_shard_rationales,
    table_shards,
)


def qa_id(name: str) -> str:
    return f"hand-{name}".ljust(16, "0")


REPLIES = {  # the model's reply per row, and whether it agrees with the stored answer
    "mc-right": ("<think>The red point lies left of the mug in frame 1.</think>\n<answer>A</answer>", True),
    "mc-wrong": ("It looks wider to me.\n<answer>A</answer>", False),
    "num-close": ("The box spans about 55 mm across frames 1 and 2.\n<answer>55 mm</answer>", True),    # 10 %: 0.9
    "num-far": ("Roughly 56 mm judging by the table edge.\n<answer>56 mm</answer>", False),           # 12 %: 0.8
    "no-tag": ("It is 50 mm long.", False),
    "garbage": (None, None),
}


@pytest.fixture
def setting(tmp_path):
    layout = OutputLayout(tmp_path / "out")
    f = frames(layout, 2)
    rows = [
        mc_row(qa_id("mc-right"), "tabletop", "position_comparison", ["left of", "right of"], "left of", f),
        mc_row(qa_id("mc-wrong"), "tabletop", "size_comparison", ["wider", "narrower"], "narrower", f),
        numeric_row(qa_id("num-close"), "tiny_tabletop", "object_size", 0.05, "mm", 50.0, f, "50 mm"),
        numeric_row(qa_id("num-far"), "tiny_tabletop", "object_size", 0.05, "mm", 50.0, f, "50 mm"),
        numeric_row(qa_id("no-tag"), "tiny_tabletop", "object_size", 0.05, "mm", 50.0, f, "50 mm"),
        numeric_row(qa_id("garbage"), "tiny_tabletop", "object_size", 0.05, "mm", 50.0, f, "50 mm"),
    ]
    server = ChatServer({qa_id(name): reply for name, (reply, _) in REPLIES.items() if reply})
    server.raw = {qa_id("garbage"): (200, b"not json")}
    yield layout, rows, server
    server.close()


def config_for(server: ChatServer, **overrides) -> RationaleConfig:
    return RationaleConfig(endpoint=EndpointConfig(base_url=server.base_url, model="teacher", backoff_s=0.01,
                                                   max_retries=1), **overrides)


def test_off_without_an_endpoint(setting):
    layout, rows, server = setting
    result = curate_rationales(rows, RationaleConfig(), layout)
    assert result.rows == rows and result.counts == RationaleCounts() and server.asked == []


def test_agreeing_rationales_replace_the_template_and_the_rest_keep_it(setting):
    layout, rows, server = setting
    result = curate_rationales(rows, config_for(server), layout)
    assert result.counts == RationaleCounts(requested=6, agreed=2, disagreed=3, dropped=0, errors=1)
    assert sorted(server.asked) == sorted(r.qa_id for r in rows)
    assert all(RATIONALE_INSTRUCTION in b["messages"][0]["content"][-1]["text"] for b in server.bodies)
    by_id = {r.qa_id: r for r in result.rows}
    right = by_id[qa_id("mc-right")]
    assert right.rationale == "The red point lies left of the mug in frame 1."
    assert right.response == "The red point lies left of the mug in frame 1.\n<answer>A</answer>"
    close = by_id[qa_id("num-close")]
    assert close.rationale == "The box spans about 55 mm across frames 1 and 2."
    assert close.response.endswith("\n<answer>50 mm</answer>")  # the stored answer, never the model's
    originals = {r.qa_id: r for r in rows}
    for name in ("mc-wrong", "num-far", "no-tag", "garbage"):
        assert by_id[qa_id(name)] == originals[qa_id(name)]


def test_disagreeing_rows_can_be_dropped(setting):
    layout, rows, server = setting
    result = curate_rationales(rows, config_for(server, on_disagreement="drop"), layout)
    assert result.counts == RationaleCounts(requested=6, agreed=2, disagreed=3, dropped=3, errors=1)
    assert sorted(r.qa_id for r in result.rows) == sorted(qa_id(n) for n in ("mc-right", "num-close", "garbage"))
    assert sorted(row.qa_id for row, _ in result.dropped) == sorted(qa_id(n) for n in ("mc-wrong", "num-far", "no-tag"))


def test_a_stricter_numeric_agreement_rejects_a_10_percent_error(setting):
    layout, rows, server = setting
    counts = curate_rationales(rows, config_for(server, min_numeric_agreement=1.0), layout).counts
    assert counts.agreed == 1 and counts.disagreed == 4


def test_an_unreachable_endpoint_stops_the_step(setting):
    layout, rows, server = setting
    server.replies_before_outage = 0
    with pytest.raises(EndpointUnavailable, match="HTTP 503"):
        curate_rationales(rows, config_for(server), layout)


def test_model_rationale_is_the_text_before_the_last_answer():
    assert model_rationale("step 1 <answer>B</answer> step 2 <answer>C</answer>") == "step 1 <answer>B</answer> step 2"
    assert model_rationale("<answer>C</answer>") == ""
    assert model_rationale("no answer at all") == ""


def test_a_committed_table_is_rewritten_shard_by_shard(setting):
    layout, rows, server = setting
    commit_qa(layout, rows)
    shards = table_shards(layout, "qa")
    assert list(shards) == ["hand"] and sorted(r.qa_id for r in shards["hand"]) == sorted(r.qa_id for r in rows)
    counts = rewrite_shard_rationales(layout, "qa", "hand", shards["hand"], config_for(server, on_disagreement="drop"),
                                      "rationales-test")
    assert counts == RationaleCounts(requested=6, agreed=2, disagreed=3, dropped=3, errors=1)
    stored, problems = load_qa(layout, "qa")
    assert not problems and len(stored) == 3
    assert {r.qa_id: r.rationale for r in stored}[qa_id("mc-right")] == "The red point lies left of the mug in frame 1."
    rejects = query(layout, "SELECT qa_id, reason, payload_json FROM rejects ORDER BY qa_id").to_pylist()
    assert [(r["qa_id"], r["reason"]) for r in rejects] == \
           sorted((qa_id(n), DISAGREEMENT_REASON) for n in ("mc-wrong", "no-tag", "num-far"))
    assert '"model_reply": "It looks wider to me.' in next(r["payload_json"] for r in rejects
                                                            if r["qa_id"] == qa_id("mc-wrong"))


def test_add_rationales_flow(setting, tmp_path):
    layout, rows, server = setting
    commit_qa(layout, rows)
    config = AddRationalesConfig(output_root=layout.root, rationales=config_for(server))
    counts = run_flow("flows.rationales", "add_rationales", config, RationaleCounts, tmp_path)
    assert counts == RationaleCounts(requested=6, agreed=2, disagreed=3, dropped=0, errors=1)
    stored = {r.qa_id: r.rationale for r in load_qa(layout, "qa")[0]}
    assert stored[qa_id("num-close")] == "The box spans about 55 mm across frames 1 and 2."
    assert stored[qa_id("num-far")] == f"Template rationale for {qa_id('num-far')}."


def test_rationales_command_line(setting, tmp_path):
    import subprocess
    import sys

    from flows.cli import EXIT_PARTIAL
    from tests.flow_runner import REPO

    layout, rows, server = setting
    commit_qa(layout, rows)
    proc = subprocess.run([sys.executable, "-m", "flows.cli", "rationales", "--endpoint", server.base_url,
                           "--model", "tiny", "--output", str(layout.root)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == EXIT_PARTIAL, proc.stderr[-2000:]  # one sample's endpoint answer was unusable
    assert "6 asked, 2 agreed" in proc.stdout and "1 errors" in proc.stdout
