"""The `spacevista` command: `curate` videos into QA tables, hold out a `benchmark`, `export` training data,
`train` scale-aware experts, `evaluate` models, query the catalog with `sql`, `compact` its tables, write the
dataset `report`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from runtime.offline import quiet_environment
from runtime.prefect_api import TemporaryApi
from schemas.config import DEFAULT_DATA_ROOT

EXIT_OK, EXIT_CRASH, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
"""0: every video curated; 3: the run finished but some (or all) inputs failed (see `failures`); 1: the run crashed;
2: bad arguments or configuration, or a run that cannot start (flows/preflight.py)."""

DEFAULT_OUTPUT = Path("output")


def main(argv: list[str] | None = None) -> int:
    quiet_environment()
    args = _parser().parse_args(argv)
    if not getattr(args, "runs_flow", False):  # sql, report, models, sources, compact: no Prefect server
        return args.handler(args)
    with TemporaryApi() as api:  # Prefect's server (a temporary one starts now, alongside the command's start-up)
        args.prefect_api = api
        return args.handler(args)


def _curate(args: argparse.Namespace) -> int:
    from schemas.config import ConfigFileError, load_curate_config  # noqa: PLC0415
    from schemas.paths import output_location  # noqa: PLC0415

    output = output_location(args.output) if args.output is not None else None
    flags = {"data_root": args.data_root, "output_root": output, "manifest": args.manifest,
             "generate_default_data": False if args.no_default_data else None, "shard_size": args.shard_size,
             "seed": args.seed, "ray_address": args.ray_address, "ray_num_cpus": args.num_cpus,
             "scenes_per_tier": args.scenes_per_tier, "max_attempts": args.max_attempts,
             "specialists": args.specialists, "source": args.source}
    given = {name: value.absolute() if isinstance(value, Path) else value
             for name, value in flags.items() if value is not None}
    try:
        config = load_curate_config(args.config, given, defaults={"data_root": DEFAULT_DATA_ROOT.absolute(),
                                                                  "output_root": DEFAULT_OUTPUT.absolute()})
    except ConfigFileError as err:
        print(f"spacevista curate: invalid configuration: {err}", file=sys.stderr)
        return EXIT_USAGE
    from sources.registry import UnknownSourceError, get_source  # noqa: PLC0415

    try:
        if config.source:
            get_source(config.source)
    except UnknownSourceError as err:
        print(f"spacevista curate: {err}", file=sys.stderr)
        return EXIT_USAGE
    from flows.preflight import PreflightError, check, format_problems  # noqa: PLC0415

    if problems := check(config):  # before the flow and Ray start: a user error is reported in seconds
        print(f"spacevista curate: {format_problems(problems)}", file=sys.stderr)
        return EXIT_USAGE
    from flows.ray_runtime import WORKER_MODULES, ray_session  # noqa: PLC0415
    from sources.manifest import ManifestError  # noqa: PLC0415
    from sources.registry import NoItemsError  # noqa: PLC0415

    try:  # the final state holds the summary, also when it is Failed (every video failed)
        # Ray first (its start is the longest), the flow's imports while its workers warm up and the API starts
        with ray_session(config.ray_address, config.ray_num_cpus, warm=WORKER_MODULES):
            from flows.curate import curate, format_summary  # noqa: PLC0415 (imports Prefect)

            args.prefect_api.use()
            outcome = curate(config, preflight_done=True, return_state=True).result(raise_on_failure=False)
    except Exception as err:
        outcome = err
    if isinstance(outcome, (ManifestError, NoItemsError, PreflightError)):
        print(f"spacevista curate: {outcome}", file=sys.stderr)
        return EXIT_USAGE
    if isinstance(outcome, BaseException):
        print(f"spacevista curate: run crashed: {type(outcome).__name__}: {outcome}", file=sys.stderr)
        return EXIT_CRASH
    print(format_summary(outcome))  # imported with the flow: an outcome that is no exception means it was
    return EXIT_PARTIAL if outcome.failures else EXIT_OK


def _run_flow(api: TemporaryApi | None, build_config, run, describe,
              input_errors: tuple[type[Exception], ...] = ()) -> int:
    """Build a typed config (usage error when invalid), run the flow (pointing Prefect at `api` first, when
    given), print its report; `input_errors` are problems with the user's inputs that the flow names (an empty
    table, a contaminated export…)."""
    from pydantic import ValidationError  # noqa: PLC0415

    try:
        config = build_config()
    except ValidationError as err:
        print(f"spacevista: invalid configuration:\n{err}", file=sys.stderr)
        return EXIT_USAGE
    try:
        if api is not None:
            api.use()
        report = run(config)
    except (ValueError, FileNotFoundError, *input_errors) as err:
        print(f"spacevista: {err}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as err:
        print(f"spacevista: run crashed: {type(err).__name__}: {err}", file=sys.stderr)
        return EXIT_CRASH
    text, partial = describe(report)
    print(text)
    return EXIT_PARTIAL if partial else EXIT_OK


def _benchmark(args: argparse.Namespace) -> int:
    from flows.benchmark import build_benchmark  # noqa: PLC0415
    from schemas.benchmark import BenchmarkConfig  # noqa: PLC0415

    def build():
        return BenchmarkConfig(data_root=args.data_root.absolute(), output_root=args.output.absolute(),
                               held_out_fraction=args.held_out_fraction,
                               held_out_scene_ids=tuple(args.scene) if args.scene else None)

    return _run_flow(args.prefect_api, build, build_benchmark, lambda r: (
        f"benchmark {r.run_id}: {r.n_qa} QA over held-out scenes {', '.join(r.held_out)}"
        + "".join(f"\nSKIPPED {s.scene_id}: {s.reason}" for s in r.skipped), bool(r.skipped)))


def _export(args: argparse.Namespace) -> int:
    from flows.export import export  # noqa: PLC0415
    from schemas.export import ExportConfig, TierBalance  # noqa: PLC0415

    def build():
        return ExportConfig(output_root=args.output.absolute(), export_dir=args.export_dir.absolute(),
                            table=args.table, keep_rationale=not args.no_rationale,
                            tiers=tuple(args.tier) or None, tasks=tuple(args.task) or None,
                            answer_types=tuple(args.answer_type) or None,
                            balance=TierBalance(total=args.total, seed=args.seed) if args.balance else None,
                            drawn_frame_format=args.frame_format, refuse_contaminated=args.refuse_contaminated,
                            format=args.format, prompts=args.prompts)

    def describe(r):
        lines = [f"exported {r.n_items} items to {r.export_dir}"]
        lines += [f"  {tier}: {c.exported} of {c.available}" for tier, c in r.per_tier.items()]
        if r.contamination.n_rows:
            lines.append(f"dropped {r.contamination.n_rows} rows of benchmark scenes "
                         f"{', '.join(r.contamination.scene_ids)}")
        lines += [f"SKIPPED {row.qa_id}: {row.reason}" for row in r.skipped]
        return "\n".join(lines), bool(r.skipped)

    from training.export import ExportError  # noqa: PLC0415

    return _run_flow(args.prefect_api, build, export, describe, (ExportError,))


def _evaluate(args: argparse.Namespace) -> int:
    from flows.evaluate import evaluate  # noqa: PLC0415
    from schemas.evaluation import EndpointConfig, EvaluateConfig, LocalModelConfig  # noqa: PLC0415
    from training.evaluate import format_run  # noqa: PLC0415

    def build():
        return EvaluateConfig(
            output_root=args.output.absolute(), table=args.table, limit=args.limit, model_name=args.model_name,
            predictions=args.predictions.absolute() if args.predictions else None,
            endpoint=EndpointConfig(base_url=args.endpoint, model=args.model,
                                    api_key_env=args.api_key_env) if args.endpoint else None,
            local_model=LocalModelConfig(model_dir=args.local_model.absolute()) if args.local_model else None)

    return _run_flow(args.prefect_api, build, evaluate,
                     lambda run: (format_run(run), run.n_errors + run.n_input_errors > 0))


def _rationales(args: argparse.Namespace) -> int:
    from flows.rationales import add_rationales  # noqa: PLC0415
    from schemas.evaluation import AddRationalesConfig, EndpointConfig, RationaleConfig  # noqa: PLC0415

    def build():
        endpoint = EndpointConfig(base_url=args.endpoint, model=args.model, api_key_env=args.api_key_env)
        return AddRationalesConfig(output_root=args.output.absolute(), table=args.table, rationales=RationaleConfig(
            endpoint=endpoint, on_disagreement="drop" if args.drop_disagreeing else "keep_template"))

    return _run_flow(args.prefect_api, build, add_rationales, lambda c: (
        f"rationales: {c.requested} asked, {c.agreed} agreed (kept the model's), {c.disagreed} disagreed, "
        f"{c.dropped} dropped, {c.errors} errors", c.errors > 0))


def _train(args: argparse.Namespace) -> int:
    from flows.train import train  # noqa: PLC0415
    from schemas.training import TrainConfig  # noqa: PLC0415

    def build():
        return TrainConfig(base_model=args.base_model.absolute(), output_root=args.output.absolute(),
                           train_dir=args.train_dir.absolute() if args.train_dir else None,
                           samples_per_tier=args.samples_per_tier, sft_steps=args.sft_steps,
                           grpo_steps=args.grpo_steps, seed=args.seed)

    def describe(r):
        lines = [f"adapter: {r.adapter_dir}", f"log: {r.log_path}",
                 "samples per tier: " + ", ".join(f"{t} {n}" for t, n in r.samples_per_tier.items())]
        lines += [f"{stage}: " + ", ".join(f"{k} {v:.4g}" for k, v in values.items())
                  for stage, values in r.final.items()]
        lines += [f"SKIPPED {s.qa_id}: {s.reason}" for s in r.skipped]
        return "\n".join(lines), bool(r.skipped)

    return _run_flow(args.prefect_api, build, train, describe)


def _report(args: argparse.Namespace) -> int:
    from report.build import ReportConfig  # noqa: PLC0415
    from report.data import ReportError, require_tables  # noqa: PLC0415
    from storage.layout import OutputLayout  # noqa: PLC0415

    try:
        require_tables(OutputLayout(args.output.absolute()))
    except ReportError as err:
        print(f"spacevista report: {err}", file=sys.stderr)
        return EXIT_USAGE
    if os.environ.get("PREFECT_API_URL"):  # recorded as a flow run on that server
        from flows.report import report as write  # noqa: PLC0415 (imports Prefect)
    else:  # the page needs nothing of Prefect: no server is started for it
        from report.build import build_report as write  # noqa: PLC0415

    def build():
        return ReportConfig(output_root=args.output.absolute(), out_path=args.out.absolute(),
                            samples_per_tier=args.samples_per_tier)

    return _run_flow(None, build, write, lambda r: (
        f"report of {r.n_qa} QA written to {r.out_path} ({r.n_bytes / 1e6:.1f} MB, {r.n_samples} sample QA)",
        False), (ReportError,))


def _models(args: argparse.Namespace) -> int:
    from schemas.config import specialist_profile_path  # noqa: PLC0415
    from specialists.catalogue import CATALOGUE, format_catalogue, format_verification, verify_profile  # noqa: PLC0415

    if args.action == "list":
        print(format_catalogue(args.models_dir))
        return EXIT_OK
    if args.action == "pull":
        from specialists.hub import PullError, describe, pull  # noqa: PLC0415

        unknown = [name for name in args.names if name not in CATALOGUE]
        if unknown:
            print(f"spacevista models pull: not in the catalogue: {', '.join(unknown)} (known: "
                  f"{', '.join(CATALOGUE)})", file=sys.stderr)
            return EXIT_USAGE
        for name in args.names:
            try:
                print(describe(pull(CATALOGUE[name], args.models_dir, args.revision, args.force)), flush=True)
            except PullError as err:
                print(f"spacevista models pull: {err}", file=sys.stderr)
                return EXIT_CRASH
        return EXIT_OK
    try:
        result = verify_profile(specialist_profile_path(args.specialists.absolute()))
    except ValueError as err:
        print(f"spacevista models verify: {err}", file=sys.stderr)
        return EXIT_USAGE
    gpus_visible = None
    if result.gpus:
        import torch  # noqa: PLC0415

        gpus_visible = torch.cuda.device_count()
    print(format_verification(result, gpus_visible))
    return EXIT_OK if result.ok else EXIT_CRASH


def _sources(args: argparse.Namespace) -> int:
    from sources.contract import Modality  # noqa: PLC0415
    from sources.registry import load_all_sources  # noqa: PLC0415

    columns = [m.value for m in Modality]
    print(f"{'source':<14}" + "".join(f"{c:<12}" for c in columns) + "description")
    for name, source in load_all_sources().items():
        marks = "".join(f"{'native' if m in source.native else '-':<12}" for m in Modality)
        print(f"{name:<14}{marks}{source.description}")
    print("\n'-': filled by a specialist where the profile has one (poses: SfM; depth: a depth model; instances: "
          "detection + tracking; metric: scale alignment), else the tasks that need it are gated out")
    return EXIT_OK


def _sql(args: argparse.Namespace) -> int:
    import duckdb  # noqa: PLC0415

    from storage.catalog import QueryRefused, query  # noqa: PLC0415
    from storage.filesystem import exists  # noqa: PLC0415
    from storage.layout import OutputLayout  # noqa: PLC0415
    from storage.manifests import ManifestFormatError  # noqa: PLC0415

    layout = OutputLayout(args.output)
    if not exists(layout.fs, layout.tables):
        print(f"spacevista sql: no tables under {layout.root}; run `spacevista curate` first", file=sys.stderr)
        return EXIT_USAGE
    try:
        table = query(layout, args.query, args.param)
    except (QueryRefused, ManifestFormatError, duckdb.Error) as err:
        print(f"spacevista sql: {_one_line(err)}", file=sys.stderr)
        return EXIT_USAGE
    if args.format == "csv":
        import pyarrow.csv as pacsv  # noqa: PLC0415

        pacsv.write_csv(table, sys.stdout.buffer)
    elif args.format == "json":
        import json  # noqa: PLC0415

        print(json.dumps(table.to_pylist(), default=str, indent=1))
    else:
        print(_render(table))
    return EXIT_OK


def _compact(args: argparse.Namespace) -> int:
    from storage.catalog import refresh_catalog  # noqa: PLC0415
    from schemas.config import CurateConfig  # noqa: PLC0415
    from storage.compaction import compact, compact_tables  # noqa: PLC0415
    from storage.filesystem import exists  # noqa: PLC0415
    from storage.layout import OutputLayout  # noqa: PLC0415
    from storage.tables import TABLES  # noqa: PLC0415

    layout = OutputLayout(args.output)
    unknown = [t for t in args.table if t not in TABLES]
    if unknown or not exists(layout.fs, layout.tables):
        problem = f"unknown table {unknown[0]!r} (tables: {', '.join(TABLES)})" if unknown else \
            f"no tables under {layout.root}; run `spacevista curate` first"
        print(f"spacevista compact: {problem}", file=sys.stderr)
        return EXIT_USAGE
    reports = ([compact(layout, t) for t in args.table] if args.table
               else compact_tables(layout, args.min_files or CurateConfig.model_fields["compact_min_files"].default))
    refresh_catalog(layout)
    for r in reports:
        print(f"{r.table}: {r.files_merged} files ({r.rows:,} rows) merged into {r.files_written}"
              + (f", {r.conflicts} groups left to a concurrent commit" if r.conflicts else ""))
    return EXIT_OK


def _one_line(err: Exception) -> str:
    """A DuckDB error without the query excerpt it quotes (`LINE 1: …` and a caret line)."""
    text = str(err).split("\nLINE ", 1)[0]
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def _render(table) -> str:
    columns = table.column_names
    rows = [[str(v) for v in row.values()] for row in table.to_pylist()]
    widths = [max([len(c)] + [min(len(r[i]), 60) for r in rows]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v[:60].ljust(w) for v, w in zip(r, widths)) for r in rows]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spacevista", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="command")

    curate = commands.add_parser("curate", help="curate videos into QA tables (default: the embedded synthetic set)")
    curate.add_argument("--config", type=Path, default=None,
                        help="a YAML file of CurateConfig fields (relative paths from its folder); flags override it")
    curate.add_argument("--data-root", type=Path, default=None, help=f"default: {DEFAULT_DATA_ROOT}")
    curate.add_argument("--output", default=None, help=f"a directory or a filesystem URI; default: {DEFAULT_OUTPUT}")
    curate.add_argument("--manifest", type=Path, default=None,
                        help="a .jsonl, .csv or .parquet list of videos inside the data root (default: walk it)")
    curate.add_argument("--shard-size", type=int, default=None, help="videos per Ray task (default: 2)")
    curate.add_argument("--seed", type=int, default=None, help="phrasing seed (default: 0)")
    curate.add_argument("--scenes-per-tier", type=int, default=None, help="size of the default set, if rendered "
                                                                          "(default: 2)")
    curate.add_argument("--no-default-data", action="store_true", help="never render the default set")
    curate.add_argument("--specialists", type=Path, default=None,
                        help="a specialist profile: `default` or `cpu` (profiles/), or a YAML path; fills what a "
                             "source lacks (depth, detection, poses, scale); default: none")
    curate.add_argument("--source", default=None,
                        help="read the data root with this source only (see `spacevista sources`); default: detect "
                             "each dataset layout present and report the source per item")
    curate.add_argument("--ray-address", default=None, help="join an existing Ray cluster instead of a local one")
    curate.add_argument("--num-cpus", type=int, default=None, help="CPUs for the local Ray (default: all)")
    curate.add_argument("--max-attempts", type=int, default=None,
                        help="tries of a video or of a Ray task before it is quarantined (default: 2)")
    curate.set_defaults(handler=_curate, runs_flow=True)

    benchmark = commands.add_parser("benchmark", help="hold out exact-annotated scenes as the benchmark split")
    benchmark.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    benchmark.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    benchmark.add_argument("--held-out-fraction", type=float, default=0.2)
    benchmark.add_argument("--scene", action="append", default=[],
                           help="hold out exactly this scene, named as under the data root, without @<root tag> "
                                "(repeatable)")
    benchmark.set_defaults(handler=_benchmark, runs_flow=True)

    export = commands.add_parser("export", help="write an export (spacevista: items, ShareGPT, Parquet; seed: the "
                                                "authors' item format); benchmark scenes are dropped")
    export.add_argument("--export-dir", type=Path, required=True)
    export.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    export.add_argument("--table", choices=("qa", "benchmark"), default="qa")
    export.add_argument("--tier", action="append", default=[], help="keep only this tier (repeatable)")
    export.add_argument("--task", action="append", default=[], help="keep only this task type (repeatable)")
    export.add_argument("--answer-type", action="append", default=[], choices=("multiple_choice", "numeric"))
    export.add_argument("--no-rationale", action="store_true", help="the assistant says only <answer>…</answer>")
    export.add_argument("--balance", action="store_true", help="an equal share of rows per tier")
    export.add_argument("--total", type=int, default=None, help="with --balance: rows to take")
    export.add_argument("--seed", type=int, default=0)
    export.add_argument("--frame-format", choices=("png", "jpg"), default="png")
    export.add_argument("--format", choices=("spacevista", "seed"), default="spacevista",
                        help="seed: the SpaceVista authors' item format, for their loaders and evaluator")
    export.add_argument("--prompts", choices=("drawn", "annotations"), default=None,
                        help="drawn frames or clean frames + annotations (default: drawn for spacevista, "
                             "annotations for seed)")
    export.add_argument("--refuse-contaminated", action="store_true",
                        help="fail instead of dropping rows of benchmark scenes")
    export.set_defaults(handler=_export, runs_flow=True)

    evaluate = commands.add_parser("evaluate", help="score a model's answers (predictions file, OpenAI-compatible "
                                                    "endpoint or local model directory)")
    evaluate.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    evaluate.add_argument("--table", default="qa", help="qa or benchmark")
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--predictions", type=Path, help='JSONL: {"id": qa_id, "response": "…"} per line, or the '
                        'SpaceVista authors\' results file ({"id", "predicted_answer", …} per line)')
    source.add_argument("--endpoint", help="OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    source.add_argument("--local-model", type=Path, help="a local transformers vision-language model directory")
    evaluate.add_argument("--model", default="default", help="with --endpoint: the model field of each request")
    evaluate.add_argument("--api-key-env", default=None, help="with --endpoint: env variable holding the API key")
    evaluate.add_argument("--model-name", default=None, help="name on the leaderboard")
    evaluate.add_argument("--limit", type=int, default=None)
    evaluate.set_defaults(handler=_evaluate, runs_flow=True)

    rationales = commands.add_parser("rationales", help="replace template rationales by a VLM's own reasoning where "
                                                        "its answer agrees with the facts (optional step)")
    rationales.add_argument("--endpoint", required=True, help="OpenAI-compatible base URL")
    rationales.add_argument("--model", default="default")
    rationales.add_argument("--api-key-env", default=None)
    rationales.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    rationales.add_argument("--table", default="qa")
    rationales.add_argument("--drop-disagreeing", action="store_true",
                            help="drop QA whose model answer disagrees (default: keep the template rationale)")
    rationales.set_defaults(handler=_rationales, runs_flow=True)

    train = commands.add_parser("train", help="train per-tier LoRA experts with a router (SFT, then GRPO with the "
                                              "progressive reward) on curated QA")
    train.add_argument("--base-model", type=Path, required=True, help="a LOCAL vision-language model directory")
    train.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    train.add_argument("--train-dir", type=Path, default=None)
    train.add_argument("--samples-per-tier", type=int, default=64)
    train.add_argument("--sft-steps", type=int, default=100)
    train.add_argument("--grpo-steps", type=int, default=50)
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(handler=_train, runs_flow=True)

    report = commands.add_parser("report", help="write the dataset report: one self-contained HTML page with "
                                                "totals, plots and sample QA")
    report.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    report.add_argument("--out", type=Path, default=Path("report.html"), help="the HTML file to write")
    report.add_argument("--samples-per-tier", type=int, default=2)
    report.set_defaults(handler=_report)

    models = commands.add_parser("models", help="the specialists' weights: list the catalogue, pull one from the "
                                                "Hugging Face hub (the only command that uses the network), "
                                                "verify what a profile needs")
    models_actions = models.add_subparsers(dest="action", required=True, metavar="action")
    models_list = models_actions.add_parser("list", help="the catalogue: role, licence, size, pulled or not")
    models_list.add_argument("--models-dir", type=Path, default=Path("models"))
    models_pull = models_actions.add_parser("pull", help="fetch models (endpoint: $HF_ENDPOINT), check each file "
                                                         "against the hub, record sha256 and source beside them")
    models_pull.add_argument("names", nargs="+", metavar="NAME", help="catalogue names (`spacevista models list`)")
    models_pull.add_argument("--models-dir", type=Path, default=Path("models"))
    models_pull.add_argument("--revision", default=None, help="a branch, tag or commit (default: main)")
    models_pull.add_argument("--force", action="store_true", help="fetch again even if intact weights are there")
    models_verify = models_actions.add_parser("verify", help="what a specialist profile needs: missing weights "
                                                             "(with the pull command) and weights changed since "
                                                             "their pull; exit 1 if any")
    models_verify.add_argument("--specialists", type=Path, default=Path("default"),
                               help="a profile YAML or a name in profiles/ (default: default)")
    models.set_defaults(handler=_models)

    sources = commands.add_parser("sources", help="list the registered sources and the modalities each provides")
    sources.set_defaults(handler=_sources)

    sql = commands.add_parser("sql", help="query the catalog, read-only: views videos frames scenes objects cameras "
                                          "qa rejects failures runs benchmark benchmark_scenes eval_runs eval_samples")
    sql.add_argument("query", help="one SELECT (or DESCRIBE, SHOW, SUMMARIZE); it may read files under the output "
                                   "root only, without network or extensions")
    sql.add_argument("--param", action="append", default=[], help="value bound to the next `?` (repeatable)")
    sql.add_argument("--output", default=str(DEFAULT_OUTPUT), help="a directory or a filesystem URI")
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.set_defaults(handler=_sql)

    compact = commands.add_parser("compact", help="merge small table files into larger files sorted by video "
                                                  "(storage/compaction.py), then refresh the catalog")
    compact.add_argument("--output", default=str(DEFAULT_OUTPUT), help="a directory or a filesystem URI")
    compact.add_argument("--table", action="append", default=[],
                         help="compact this table whatever its number of small files (repeatable)")
    compact.add_argument("--min-files", type=int, default=None,
                         help="without --table: every table with at least this many small files (default: "
                              "curate's compact_min_files, 64)")
    compact.set_defaults(handler=_compact)
    return parser


if __name__ == "__main__":
    sys.exit(main())
