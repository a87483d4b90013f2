"""Hand-made QA rows, an output root holding them (frames on disk, table committed), and a real chat-completions
server on loopback, for the evaluation and rationale tests."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from schemas.arrow import to_arrow
from schemas.qa import OPTION_LETTERS, QARow
from storage.artifacts import put_frame
from storage.commits import commit_shard, stage_table
from storage.layout import OutputLayout


def frames(layout: OutputLayout, n: int, seed: int = 0) -> list[str]:
    """`n` distinct 64×48 keyframes stored as content-addressed JPEGs; their paths relative to the root."""
    rng = np.random.default_rng(seed)
    return [put_frame(layout, rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))[1] for _ in range(n)]


def mc_row(qa_id: str, scale: str, task: str, options: list[str], correct: str, frame_paths: list[str],
           visual_prompts: list[dict] | None = None) -> QARow:
    letter = OPTION_LETTERS[options.index(correct)]
    question = f"Question {qa_id} about the {task.replace('_', ' ')}?\n" + "\n".join(
        f"{OPTION_LETTERS[i]}. {text}" for i, text in enumerate(options))
    return _row(qa_id, scale, task, question, letter,
                {"task_type": task, "kind": "multiple_choice", "options": options, "correct_letter": letter},
                frame_paths, visual_prompts or [])


def numeric_row(qa_id: str, scale: str, task: str, value_si: float, unit: str, display_value: float,
                frame_paths: list[str], shown: str) -> QARow:
    return _row(qa_id, scale, task, f"Question {qa_id}: how much is the {task.replace('_', ' ')} ({unit})?", shown,
                {"task_type": task, "kind": "numeric", "value_si": value_si, "unit": unit,
                 "display_value": display_value}, frame_paths, [])


def commit_qa(layout: OutputLayout, rows: list[QARow], table: str = "qa") -> None:
    commit_shard(layout, table, "hand", stage_table(layout, table, to_arrow(rows, QARow), "hand"), "test-run")


def _row(qa_id: str, scale: str, task: str, question: str, answer_text: str, answer: dict, frame_paths: list[str],
         visual_prompts: list[dict]) -> QARow:
    rationale = f"Template rationale for {qa_id}."
    return QARow.model_validate({
        "qa_id": qa_id, "run_id": "test-run", "scene_id": f"{scale}_hand", "video_id": "v" * 16, "source": "hand",
        "scale": scale, "task_type": task, "input_type": visual_prompts[0]["kind"] if visual_prompts else "text",
        "template_id": "hand/0", "question": question, "rationale": rationale,
        "response": f"{rationale}\n<answer>{answer_text}</answer>", "answer": answer,
        "video_frame_numbers": list(range(len(frame_paths))), "frame_paths": frame_paths, "object_ids": [],
        "query": {}, "visual_prompts": visual_prompts,
        "provenance": {"depth": "native:hand", "poses": "native:hand", "masks": "native:hand"},
    })


class ChatServer:
    """A real chat-completions server on loopback. It answers each question from `answers` (keyed by the qa_id in
    the question), records every request, and can drop connections, fail for good, or reply garbage."""

    def __init__(self, answers: dict[str, str]):
        self.answers = answers
        self.raw: dict[str, tuple[int, bytes]] = {}
        self.asked: list[str] = []
        self.bodies: list[dict] = []
        self.drop_next = 0
        self.replies_before_outage: int | None = None
        self.replies = 0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _reply(self, body: dict) -> tuple[int, bytes] | None:
        with self._lock:
            if self.drop_next:
                self.drop_next -= 1
                return None
            if self.replies_before_outage is not None and self.replies >= self.replies_before_outage:
                return 503, b'{"error": "overloaded"}'
            question = body["messages"][0]["content"][-1]["text"]
            asked = re.search(r"Question (hand-[\w-]+)", question).group(1)
            self.asked.append(asked)
            self.bodies.append(body)
            if asked in self.raw:
                return self.raw[asked]
            self.replies += 1
            return 200, json.dumps({"choices": [{"index": 0, "message": {
                "role": "assistant", "content": self.answers[asked]}}]}).encode()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's naming)
                assert self.path == "/v1/chat/completions", self.path
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                reply = server._reply(body)
                if reply is None:  # drop the connection without answering
                    self.close_connection = True
                    return
                status, payload = reply
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        return Handler
