"""Evaluation: a leaderboard reproduced by hand, a real chat-completions server on loopback (retry, resume, garbage),
a local tiny Qwen2-VL, bad prediction files, and the Prefect flow on the default curate run."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError

from schemas.arrow import arrow_schema
from schemas.evaluation import EndpointConfig, EvalRunRow, EvaluateConfig, LocalModelConfig
from schemas.qa import QARow
from storage.catalog import open_catalog, query
from storage.commits import commit_shard, stage_table
from storage.manifests import manifest_versions
from storage.layout import OutputLayout
from tests.eval_builders import ChatServer, commit_qa, frames, mc_row, numeric_row
from tests.flow_runner import run_flow
from training.chat import EndpointUnavailable
from training.evaluate import ResponseCache, catalog_leaderboard, eval_run_dir, evaluate_qa, format_run
from training.metrics import leaderboard_markdown


def qa_id(name: str) -> str:
    return f"hand-{name}".ljust(16, "0")


def hand_set(layout: OutputLayout) -> list:
    """Eleven QA over the five tiers, each with two stored frames; T1 has a red point on its first frame."""
    f = frames(layout, 2)
    point = [{"kind": "point", "frame": 1, "object_id": "s/1", "coords": [20.0, 10.0], "color": "red"}]
    return [
        mc_row(qa_id("tiny-1"), "tiny_tabletop", "position_comparison", ["left of", "right of"], "left of", f, point),
        mc_row(qa_id("tiny-2"), "tiny_tabletop", "size_comparison", ["wider", "narrower", "same"], "narrower", f),
        numeric_row(qa_id("tiny-3"), "tiny_tabletop", "object_size", 0.05, "mm", 50.0, f, "50 mm"),
        numeric_row(qa_id("table-1"), "tabletop", "absolute_distance", 0.40, "cm", 40.0, f, "40 cm"),
        mc_row(qa_id("table-2"), "tabletop", "existence", ["yes", "no"], "yes", f),
        numeric_row(qa_id("indoor-1"), "indoor", "room_size", 20.0, "m2", 20.0, f, "20 m²"),
        numeric_row(qa_id("indoor-2"), "indoor", "object_counting", 4.0, "count", 4.0, f, "4"),
        mc_row(qa_id("indoor-3"), "indoor", "existence", ["yes", "no"], "yes", f),
        mc_row(qa_id("outdoor-1"), "outdoor", "navigation", ["turn left", "go straight", "turn right"], "go straight",
               f),
        numeric_row(qa_id("outdoor-2"), "outdoor", "depth_estimation", 50.0, "m", 50.0, f, "50 m"),
        numeric_row(qa_id("drone-1"), "drone", "area_estimation", 10_000.0, "m2", 10_000.0, f, "10000 m²"),
        numeric_row(qa_id("drone-2"), "drone", "rotation_estimation", 30.0, "deg", 30.0, f, "30°"),
    ]


MODEL_A = {  # response, and its score worked out by hand
    "tiny-1": ("<answer>A</answer>", 1.0),
    "tiny-2": ("The second is narrower... <answer>C</answer>", 0.0),
    "tiny-3": ("<answer>55</answer>", 0.9),                          # 55 mm: 10 % error passes 9 of 10 thresholds
    "table-1": ("<answer>0.5 m</answer>", 0.6),                      # 25 %: passes 1 − θ ∈ {0.25, …, 0.50}
    "table-2": ("Yes", 1.0),                                          # untagged, names option A
    "indoor-1": ("<answer>twenty-two square metres</answer>", 0.9),  # 10 %
    "indoor-2": ("<answer>six</answer>", 0.1),                       # 50 %: only θ = 0.50
    "indoor-3": ("<answer>No</answer>", 0.0),
    "outdoor-1": None,                                                # its line is malformed: no prediction
    "outdoor-2": ("<answer>57.5 m</answer>", 0.8),                   # 15 %
    "drone-1": ("<answer>9.5k m²</answer>", 1.0),                    # 5 %
    "drone-2": ("<answer>24°</answer>", 0.7),                        # 20 %
}
TIERS_BY_HAND = {"tiny_tabletop": (1.0 + 0.0 + 0.9) / 3, "tabletop": (0.6 + 1.0) / 2,
                 "indoor": (0.9 + 0.1 + 0.0) / 3, "outdoor": (0.0 + 0.8) / 2, "drone": (1.0 + 0.7) / 2}
OVERALL_BY_HAND = sum(TIERS_BY_HAND.values()) / 5  # mean over tiers: 0.60333…
PER_SAMPLE_BY_HAND = sum(entry[1] for entry in MODEL_A.values() if entry) / 12  # mean over samples: 7.0 / 12


@pytest.fixture
def hand_root(tmp_path) -> tuple[OutputLayout, list]:
    layout = OutputLayout(tmp_path / "out")
    rows = hand_set(layout)
    commit_qa(layout, rows)
    return layout, rows


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_leaderboard_reproduced_by_hand(hand_root, tmp_path):
    layout, rows = hand_root
    lines = [json.dumps({"id": qa_id(name), "response": entry[0]}) for name, entry in MODEL_A.items() if entry]
    lines.insert(5, '{"id": "' + qa_id("outdoor-1") + '", "response": "<answer>B')  # truncated line
    model_a = write_jsonl(tmp_path / "model-a.jsonl", lines)
    oracle = write_jsonl(tmp_path / "oracle.jsonl", [json.dumps({"id": r.qa_id, "response": r.response}) for r in rows])

    result = evaluate_qa(EvaluateConfig(output_root=layout.root, predictions=model_a))
    evaluate_qa(EvaluateConfig(output_root=layout.root, predictions=oracle))

    assert result.run.per_tier == pytest.approx(TIERS_BY_HAND)
    assert result.run.overall_tier_mean == pytest.approx(OVERALL_BY_HAND)
    assert result.run.overall_per_sample == pytest.approx(PER_SAMPLE_BY_HAND) == pytest.approx(0.58333, abs=1e-5)
    assert result.run.per_task["existence"] == pytest.approx(0.5)
    assert result.report.per_tier_task[("indoor", "existence")] == 0.0
    scores = {s.qa_id: s.score for s in result.samples if s.qa_id}
    assert scores == pytest.approx({qa_id(n): (e[1] if e else 0.0) for n, e in MODEL_A.items()})
    assert result.run.n_samples == 12 and result.run.n_input_errors == 1
    missing = next(s for s in result.samples if s.qa_id == qa_id("outdoor-1"))
    assert missing.error == "no prediction for this QA"
    bad_line = next(s for s in result.samples if s.qa_id is None)
    assert bad_line.error.startswith("model-a.jsonl line 6: not JSON") and bad_line.score is None

    board = catalog_leaderboard(layout)
    assert board.column_names == ["model", "tiny_tabletop", "tabletop", "indoor", "outdoor", "drone",
                                  "overall_per_sample", "overall_tier_mean", "samples"]
    assert board.to_pylist()[1] == {"model": "oracle", **{t: 1.0 for t in TIERS_BY_HAND}, "overall_per_sample": 1.0,
                                    "overall_tier_mean": 1.0, "samples": 12}
    assert leaderboard_markdown(board).splitlines()[2] == \
        "| model-a | 63.3 | 80.0 | 33.3 | 40.0 | 85.0 | 58.3 | 60.3 | 12 |"
    assert ("overall per sample (micro, as the authors' scorer) 58.3  overall mean over tiers (macro) 60.3"
            in format_run(result.run))


def test_rerun_of_the_same_predictions_replaces_the_run(hand_root, tmp_path):
    layout, rows = hand_root
    oracle = write_jsonl(tmp_path / "oracle.jsonl", [json.dumps({"id": r.qa_id, "response": r.response}) for r in rows])
    first = evaluate_qa(EvaluateConfig(output_root=layout.root, predictions=oracle))
    second = evaluate_qa(EvaluateConfig(output_root=layout.root, predictions=oracle))
    assert first.run.eval_run_id == second.run.eval_run_id
    counts = query(layout, "SELECT (SELECT count(*) FROM eval_runs) AS runs, (SELECT count(*) FROM eval_samples) AS s")
    assert counts.to_pylist() == [{"runs": 1, "s": 12}]


def test_bad_prediction_lines_are_per_sample_errors(hand_root, tmp_path):
    layout, rows = hand_root
    ids = [r.qa_id for r in rows]
    lines = [
        "{not json",
        json.dumps({"response": "<answer>A</answer>"}),                       # no id
        '{"id": "' + ids[2] + '", "response": NaN}',                          # NaN number
        json.dumps({"id": ids[3], "response": 0.5}),                          # a bare number: read as 0.5 cm
        json.dumps({"id": ids[4], "response": None}),
        json.dumps({"id": ids[0], "response": "<answer>A</answer>"}),
        json.dumps({"id": ids[0], "response": "<answer>B</answer>"}),         # repeated id: the first line counts
        json.dumps({"id": "unknown-qa-000000", "response": "<answer>A</answer>"}),
        "",
        json.dumps({"id": ids[6], "response": "<answer>4</answer>"}),
        json.dumps([1, 2]),
    ]
    predictions = write_jsonl(tmp_path / "bad.jsonl", lines)
    result = evaluate_qa(EvaluateConfig(output_root=layout.root, predictions=predictions))
    by_id = {s.qa_id: s for s in result.samples if s.score is not None}
    assert by_id[ids[0]].score == 1.0 and by_id[ids[6]].score == 1.0
    assert by_id[ids[2]].error == "bad.jsonl line 3: response is the number nan, not an answer"
    assert by_id[ids[3]].error is None and by_id[ids[3]].score == 0.0 and by_id[ids[3]].extracted == "0.005"
    assert by_id[ids[4]].error == 'bad.jsonl line 5: "response" is NoneType, not text'
    assert by_id[ids[5]].error == "no prediction for this QA"
    outside = {s.error for s in result.samples if s.score is None}
    assert outside == {"bad.jsonl line 1: not JSON (Expecting property name enclosed in double quotes at column 2)",
                       'bad.jsonl line 11: no string "id" (got \'[1, 2]\')',
                       'bad.jsonl line 2: no string "id" (got \'{"response": "<answer>A</answer>"}\')',
                       f"bad.jsonl line 7: repeats id {ids[0]} (bad.jsonl line 6 counts)",
                       "bad.jsonl line 8: id unknown-qa-000000 is not among the evaluated QA of table 'qa'"}
    assert result.run.n_samples == 12 and result.run.n_input_errors == 5


def test_the_authors_results_file_is_read(hand_root, tmp_path):
    """evaluate_api.py's result lines: `id` + `predicted_answer`; their other fields (their own `ground_truth`
    included) are ignored, their "ERROR…" marker of a failed request is that sample's error."""
    layout, rows = hand_root
    ids = [r.qa_id for r in rows]

    def result_line(qa: str, **fields) -> str:
        return json.dumps({"id": qa, "input_type": "text", "category": "Tabletop", "scale": "tabletop",
                           "original_type": "x", "question": "?", "ground_truth": "Z", "answer_type": "mc",
                           "num_frames_sent": 2, **fields})

    lines = [result_line(ids[0], predicted_answer="<think>left</think>\n<answer>a</answer>"),
             result_line(ids[1], predicted_answer="ERROR: API returned None content"),
             result_line(ids[2], predicted_answer="<answer>50</answer>", response="<answer>50</answer>"),
             *[result_line(r.qa_id, predicted_answer=r.response) for r in rows[3:]]]
    result = evaluate_qa(EvaluateConfig(output_root=layout.root, predictions=write_jsonl(tmp_path / "r.jsonl", lines)))
    by_id = {s.qa_id: s for s in result.samples}
    assert by_id[ids[0]].score == 1.0 and by_id[ids[0]].extracted == "A"
    assert by_id[ids[1]].error == ("r.jsonl line 2: the authors' evaluator recorded a failed request "
                                   "('ERROR: API returned None content')")
    assert by_id[ids[2]].error == 'r.jsonl line 3: has both "response" and "predicted_answer"'
    assert [by_id[i].score for i in ids] == [1.0, 0.0, 0.0] + [1.0] * 9
    assert result.run.n_errors == 2 and result.run.n_input_errors == 0


def test_an_invalid_table_row_is_kept_outside_the_scores(hand_root, tmp_path):
    layout, rows = hand_root
    broken = {**rows[0].model_dump(), "qa_id": qa_id("broken"), "question": "Which side? (options lost)"}
    data = pa.Table.from_pylist([broken], schema=arrow_schema(QARow))
    commit_shard(layout, "qa", "broken", stage_table(layout, "qa", data, "broken"), "test-run")
    lines = [json.dumps({"id": r.qa_id, "response": r.response}) for r in rows]
    oracle = write_jsonl(tmp_path / "oracle.jsonl", [*lines, json.dumps({"id": qa_id("broken"), "response": "A"})])
    result = evaluate_qa(EvaluateConfig(output_root=layout.root, predictions=oracle))
    assert result.run.n_samples == 12 and result.run.overall_tier_mean == 1.0 and result.run.n_input_errors == 1
    (outside,) = [s for s in result.samples if s.score is None]
    assert outside.qa_id == qa_id("broken")
    assert outside.error.startswith("qa row is not a valid QARow: Value error, multiple-choice question does not "
                                    "list its options")


def test_config_needs_exactly_one_source(tmp_path):
    with pytest.raises(ValidationError, match="exactly one of"):
        EvaluateConfig(output_root=tmp_path)
    with pytest.raises(ValidationError, match="exactly one of"):
        EvaluateConfig(output_root=tmp_path, predictions=tmp_path / "p.jsonl",
                       endpoint=EndpointConfig(base_url="http://127.0.0.1:1/v1", model="m"))


def test_any_qa_table_by_name(hand_root, tmp_path):
    layout, rows = hand_root
    commit_qa(layout, rows[:3], table="benchmark")
    oracle = write_jsonl(tmp_path / "oracle.jsonl", [json.dumps({"id": r.qa_id, "response": r.response}) for r in rows])
    result = evaluate_qa(EvaluateConfig(output_root=layout.root, predictions=oracle, table="benchmark"))
    assert result.run.n_samples == 3 and result.run.overall_tier_mean == 1.0 and result.run.n_input_errors == 9
    with pytest.raises(ValueError, match="holds RunRow rows, not QA"):
        evaluate_qa(EvaluateConfig(output_root=layout.root, predictions=oracle, table="runs"))


@pytest.fixture
def chat_server(hand_root):
    """Answers: model A's responses, with a wrong letter where model A had no line."""
    server = ChatServer({qa_id(name): entry[0] if entry else "<answer>A</answer>" for name, entry in MODEL_A.items()})
    yield server
    server.close()


def endpoint(server: ChatServer, **overrides) -> EndpointConfig:
    return EndpointConfig(base_url=server.base_url, model="test-vlm", backoff_s=0.01, max_retries=2,
                          timeout_s=10, **overrides)


def test_endpoint_run_retries_a_dropped_connection(hand_root, chat_server):
    layout, rows = hand_root
    chat_server.drop_next = 1
    result = evaluate_qa(EvaluateConfig(output_root=layout.root, endpoint=endpoint(chat_server)))
    assert chat_server.asked == sorted(r.qa_id for r in rows)  # the dropped first request was retried, once
    assert result.run.overall_tier_mean == pytest.approx(OVERALL_BY_HAND) and result.run.source == "endpoint"

    body = chat_server.bodies[chat_server.asked.index(qa_id("tiny-1"))]
    assert body["model"] == "test-vlm" and body["temperature"] == 0
    parts = body["messages"][0]["content"]
    assert [p["text"] for p in parts if p["type"] == "text"][:2] == ["Frame 1:", "Frame 2:"]
    assert parts[-1]["text"].endswith("Answer with the letter of the correct option, inside <answer></answer>.")
    images = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert len(images) == 2 and all(u.startswith("data:image/jpeg;base64,") for u in images)
    first = cv2.imdecode(np.frombuffer(base64.b64decode(images[0].split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    b, g, r = first[10, 20].astype(int)  # T1's red point, drawn at (20, 10)
    assert r > 200 and g < 60 and b < 60
    second = base64.b64decode(images[1].split(",", 1)[1])
    assert second == (layout.root / rows[0].frame_paths[1]).read_bytes()  # no prompt there: the stored JPEG as is


def test_endpoint_run_resumes_after_an_outage(hand_root, chat_server):
    layout, rows = hand_root
    config = EvaluateConfig(output_root=layout.root, endpoint=endpoint(chat_server))
    chat_server.replies_before_outage = 5
    with pytest.raises(EndpointUnavailable, match="HTTP 503.*gave up after 3 attempts"):
        evaluate_qa(config)
    ids = sorted(r.qa_id for r in rows)
    assert chat_server.asked == ids[:5]
    run_dir = next((layout.root / "evals").iterdir())
    assert len(ResponseCache(run_dir / "responses.jsonl").load()) == 5
    assert not manifest_versions(layout, "eval_runs")  # an interrupted run is not published

    chat_server.replies_before_outage, chat_server.asked = None, []
    resumed = evaluate_qa(config)
    assert chat_server.asked == ids[5:]  # only the rest is requested
    assert eval_run_dir(layout, resumed.run.eval_run_id) == run_dir

    chat_server.asked = []
    uninterrupted = evaluate_qa(config.model_copy(update={"run_id": "uninterrupted"}))
    assert chat_server.asked == ids
    assert [(s.qa_id, s.score, s.extracted) for s in resumed.samples] == \
           [(s.qa_id, s.score, s.extracted) for s in uninterrupted.samples]
    assert resumed.run.per_tier == uninterrupted.run.per_tier
    assert resumed.run.overall_tier_mean == uninterrupted.run.overall_tier_mean == pytest.approx(OVERALL_BY_HAND)


def test_endpoint_garbage_is_a_per_sample_error_and_asked_again(hand_root, chat_server):
    layout, rows = hand_root
    ids = [r.qa_id for r in rows]
    chat_server.raw = {ids[0]: (200, b"<html>proxy error</html>"), ids[1]: (200, b'{"choices": []}'),
                       ids[2]: (200, b'{"error": {"message": "model crashed"}}'),
                       ids[3]: (400, b'{"error": "context length exceeded"}'),
                       ids[4]: (200, b'{"choices": [{"message": {"content": null}}]}')}
    config = EvaluateConfig(output_root=layout.root, endpoint=endpoint(chat_server, concurrency=4))
    result = evaluate_qa(config)
    errors = {s.qa_id: s.error for s in result.samples if s.error and s.qa_id in ids[:5]}
    assert errors == {
        ids[0]: "endpoint reply is not JSON: '<html>proxy error</html>'",
        ids[1]: "endpoint reply has no choices",
        ids[2]: 'endpoint reply has no choices (error: {"message": "model crashed"})',
        ids[3]: 'endpoint answered HTTP 400: {"error": "context length exceeded"}',
        ids[4]: 'endpoint reply\'s first choice has no text content: {"message": {"content": null}}',
    }
    assert all(s.score == 0.0 for s in result.samples if s.qa_id in errors)
    rest = {s.qa_id: s.score for s in result.samples if s.qa_id in ids[5:]}
    assert rest == pytest.approx({qa_id(n): (e[1] if e else 0.0) for n, e in MODEL_A.items()
                                  if qa_id(n) in ids[5:]})

    chat_server.raw, chat_server.asked = {}, []
    fixed = evaluate_qa(config)
    assert sorted(chat_server.asked) == sorted(ids[:5])  # errors are not cached: asked again, the rest is not
    assert fixed.run.n_errors == 0 and fixed.run.overall_tier_mean == pytest.approx(OVERALL_BY_HAND)


def test_local_tiny_qwen2vl_directory(hand_root, tmp_path):
    from tests.tiny_vlm import build_tiny_qwen2vl

    layout, rows = hand_root
    commit_qa(layout, rows[:2], table="benchmark")
    model_dir = build_tiny_qwen2vl(tmp_path / "tiny-qwen2vl")
    config = EvaluateConfig(output_root=layout.root, table="benchmark",
                            local_model=LocalModelConfig(model_dir=model_dir, max_new_tokens=8, device="cpu"))
    result = evaluate_qa(config)
    assert result.run.n_samples == 2 and result.run.source == "local_model" and result.run.model == "tiny-qwen2vl"
    assert all(isinstance(s.prediction, str) for s in result.samples)  # garbage, but recorded
    assert all(0.0 <= s.score <= 1.0 for s in result.samples)
    cached = ResponseCache(eval_run_dir(layout, result.run.eval_run_id) / "responses.jsonl").load()
    assert cached == {s.qa_id: s.prediction for s in result.samples}


@pytest.mark.e2e
def test_evaluate_flow_on_the_default_run(default_run, tmp_path):
    layout = OutputLayout(default_run.output)
    qa = query(layout, "SELECT qa_id, scale, response FROM qa ORDER BY qa_id").to_pylist()
    lines = [json.dumps({"id": r["qa_id"], "response": r["response"] if i % 2 == 0 else "<answer>?</answer>"})
             for i, r in enumerate(qa)]
    predictions = write_jsonl(tmp_path / "half-right.jsonl", lines)
    report = run_flow("flows.evaluate", "evaluate", EvaluateConfig(output_root=layout.root, predictions=predictions),
                      EvalRunRow, tmp_path)

    right: dict[str, list[int]] = {}
    for i, r in enumerate(qa):
        right.setdefault(r["scale"], []).append(int(i % 2 == 0))
    tiers = {tier: sum(v) / len(v) for tier, v in right.items()}
    with open_catalog(layout) as con:
        run = con.sql("SELECT eval_run_id, model, n_samples, n_errors, overall_tier_mean, per_tier FROM eval_runs "
                      "WHERE model = 'half-right'").fetchall()
        samples = con.sql("SELECT scale, avg(score), count(*), count(error) FROM eval_samples "
                          "WHERE eval_run_id = ? GROUP BY scale", params=[run[0][0]]).fetchall()
    (run_id, model, n_samples, n_errors, overall, per_tier), = run
    assert (run_id, model, overall) == (report.eval_run_id, "half-right", report.overall_tier_mean)
    assert n_samples == len(qa) and n_errors == len(qa) // 2
    assert dict(per_tier) == pytest.approx(tiers)
    assert overall == pytest.approx(sum(tiers.values()) / len(tiers))
    assert report.overall_per_sample == pytest.approx((len(qa) + 1) // 2 / len(qa))
    assert {tier: avg for tier, avg, _, _ in samples} == pytest.approx(tiers)
