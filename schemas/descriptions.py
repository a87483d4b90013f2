"""What each catalog table and column holds: the text of the catalog's `COMMENT ON` statements.

A column's description is its row model's `Field(description=…)` where it has one, else the entry for its name in
COLUMN_DESCRIPTIONS, which holds the columns that mean the same in every table that has them."""

from __future__ import annotations

from pydantic import BaseModel

TABLE_DESCRIPTIONS: dict[str, str] = {
    "videos": "one row per source video curated: its file, stream properties and scene",
    "frames": "the keyframes stored per video, as content-addressed images",
    "scenes": "one row per scene: scale tier, reconstructed extent, room, scale alignment",
    "objects": "object instances lifted to metric 3D in the scene's canonical frame, fused over keyframes",
    "cameras": "one keyframe camera per row: intrinsics and pose in the scene's canonical frame",
    "qa": "validated spatial question/answer pairs, partitioned by scale and task_type",
    "rejects": "QA candidates that failed validation, with the reason; never in `qa`",
    "failures": "inputs that could not be curated: the file, the stage and the error",
    "runs": "one row per curate run: configuration, counts and outcome",
    "shards": "committed shards: fingerprint and tallies, so a re-run can reuse them",
    "benchmark": "the held-out QA (same columns as `qa`); training exports drop its scenes",
    "benchmark_scenes": "the scenes held out for the benchmark and how each was chosen",
    "eval_runs": "one row per evaluation run of a model on a QA table; scores in [0, 1]",
    "eval_samples": "one scored QA per row of an evaluation run, or an unusable prediction line",
}

COLUMN_DESCRIPTIONS: dict[str, str] = {
    "run_id": "the run that wrote the row",
    "scene_id": "the scene (one video and its annotations): '<id under its data root>@<data root tag>'",
    "video_id": "sha256 of the video file's bytes (as in `videos`)",
    "source": "the source adapter that read the video (see `spacevista sources`)",
    "scale": "scale tier: tiny_tabletop | tabletop | indoor | outdoor | drone",
    "task_type": "the QA task (one of the 19 SpaceVista tasks)",
    "qa_id": "stable id of the QA: hash of scene, task, template, input type, objects and question",
    "size_bytes": "the video file's size in bytes",
    "fps": "frames per second of the video",
    "n_frames": "frames in the video",
    "width": "frame width in pixels",
    "height": "frame height in pixels",
    "duration_s": "the video's duration in seconds",
    "has_native_annotations": "the source ships its own annotations (depth, poses, masks…) for this video",
    "frame_index": "video frame number: the frame's number in the video, counted from 0 (not a question's frame k)",
    "timestamp_s": "the frame's time in the video, seconds",
    "frame_sha256": "sha256 of the frame image (its content address)",
    "tier_from": "where the scale tier came from: the source's metadata or the reconstructed extent",
    "n_keyframes": "keyframes the scene was reconstructed from",
    "n_objects": "object instances in the scene",
    "room": "room extents from the dominant planes (floor area, length, width, height, volume, centre, yaw); "
            "null outside rooms",
    "provenance": "what the facts rest on: native annotation or specialist (name, model, weights hash) for "
                  "depth, poses and masks",
    "instance_id": "the object's instance id in the scene's masks",
    "category": "the object's category name",
    "center": "the object's centre (x, y, z) in the canonical frame, metres (z up)",
    "yaw_deg": "heading of the object's length axis about z (up), degrees",
    "bottom_z": "height of the object's bottom above the canonical origin, metres",
    "top_z": "height of the object's top above the canonical origin, metres",
    "n_points": "3D points the object was lifted from",
    "n_keyframes_seen": "keyframes in which the object appears",
    "first_seen_frame": "video frame number (from 0) of the first keyframe showing the object",
    "observations": "per keyframe: box, a point inside the mask, pixel count, median depth, completeness, mask",
    "fx": "focal length along x, pixels",
    "fy": "focal length along y, pixels",
    "cx": "principal point x, pixels",
    "cy": "principal point y, pixels",
    "input_type": "how objects are referred to: text | point | bbox | mask | point_bbox",
    "template_id": "the question template that produced the QA",
    "question": "the question text shown with the frames",
    "rationale": "the step-by-step reasoning before the answer",
    "response": "rationale followed by <answer>…</answer>: the training target",
    "answer": "the typed answer (options and correct letter, or an SI value with the displayed unit)",
    "frame_paths": "the frames shown, in order: the question's frame k is the k-th path (content-addressed images, "
                   "relative to the output root)",
    "object_ids": "the objects the question is about ('<scene_id>/<instance_id>')",
    "visual_prompts": "points, boxes or masks drawn on the shown frames to refer to objects; `frame` numbers the "
                      "frame as the question does (from 1)",
    "reason": "why the candidate was rejected",
    "payload_json": "the rejected candidate, as JSON",
    "error_type": "the exception's type",
    "message": "what went wrong, naming the file and field where known",
    "started_at": "when the run started (UTC)",
    "finished_at": "when the run finished (UTC)",
    "data_root": "the data root the run read",
    "config_json": "the run's configuration, as JSON",
    "n_videos": "videos the run curated",
    "n_scenes": "scenes the run curated",
    "n_qa": "QA rows: written by the run (`runs`), or of the held-out scene (`benchmark_scenes`)",
    "n_rejects": "QA candidates rejected",
    "n_failures": "failures rows written",
    "wall_s": "the run's wall time in seconds",
    "shard_id": "the shard: hash of the data root and its member videos",
    "row_counts": "rows the shard wrote, per table",
    "qa_counts": "QA the shard wrote, per scale and task",
    "drops": "QA candidates the shard dropped, per task and reason",
    "selection": "how the scene was held out: by hash of its id, or named explicitly",
    "eval_run_id": "the evaluation run",
    "model": "the model's name as given to `evaluate`",
    "table": "the QA table evaluated (qa, benchmark…)",
    "per_tier": "mean score per scale tier",
    "per_task": "mean score per task",
    "score": "the sample's score in [0, 1]; null for a prediction line that matches no QA",
    "error": "why no answer was obtained or read; null when the sample was scored normally",
}


def column_description(model: type[BaseModel], column: str) -> str:
    """The description of one column of a table whose rows are `model`; '' when neither source has one."""
    return model.model_fields[column].description or COLUMN_DESCRIPTIONS.get(column, "")
