"""The `spacevista` command: `curate` runs the curation flow, `sql` queries the catalog."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from flows.offline import quiet_environment

EXIT_OK, EXIT_CRASH, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
"""0: every video curated; 3: the run finished but some inputs failed (see `failures`); 1: the run crashed;
2: bad arguments or configuration."""

DEFAULT_DATA_ROOT = Path("data/default")
DEFAULT_OUTPUT = Path("output")


def main(argv: list[str] | None = None) -> int:
    quiet_environment()
    args = _parser().parse_args(argv)
    return args.handler(args)


def _curate(args: argparse.Namespace) -> int:
    from pydantic import ValidationError  # noqa: PLC0415

    from schemas.config import CurateConfig  # noqa: PLC0415

    try:
        config = CurateConfig(data_root=args.data_root.absolute(), output_root=args.output.absolute(),
                              generate_default_data=not args.no_default_data, shard_size=args.shard_size,
                              seed=args.seed, ray_address=args.ray_address, ray_num_cpus=args.num_cpus,
                              scenes_per_tier=args.scenes_per_tier)
    except ValidationError as err:
        print(f"spacevista curate: invalid configuration:\n{err}", file=sys.stderr)
        return EXIT_USAGE
    from flows.curate import curate, format_summary  # noqa: PLC0415 (imports Prefect)

    try:
        summary = curate(config)
    except Exception as err:
        print(f"spacevista curate: run crashed: {type(err).__name__}: {err}", file=sys.stderr)
        return EXIT_CRASH
    print(format_summary(summary))
    return EXIT_PARTIAL if summary.failures else EXIT_OK


def _sql(args: argparse.Namespace) -> int:
    import duckdb  # noqa: PLC0415

    from storage.catalog import query  # noqa: PLC0415
    from storage.layout import OutputLayout  # noqa: PLC0415

    layout = OutputLayout(args.output.absolute())
    if not layout.tables.is_dir():
        print(f"spacevista sql: no tables under {layout.root}; run `spacevista curate` first", file=sys.stderr)
        return EXIT_USAGE
    try:
        table = query(layout, args.query, args.param)
    except duckdb.Error as err:
        print(f"spacevista sql: {err}", file=sys.stderr)
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
    curate.add_argument("--data-root", type=Path, default=DEFAULT_DATA_ROOT)
    curate.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    curate.add_argument("--shard-size", type=int, default=2)
    curate.add_argument("--seed", type=int, default=0)
    curate.add_argument("--scenes-per-tier", type=int, default=2, help="size of the default set, if rendered")
    curate.add_argument("--no-default-data", action="store_true", help="never render the default set")
    curate.add_argument("--ray-address", default=None, help="join an existing Ray cluster instead of a local one")
    curate.add_argument("--num-cpus", type=int, default=None, help="CPUs for the local Ray (default: all)")
    curate.set_defaults(handler=_curate)

    sql = commands.add_parser("sql", help="query the catalog: views videos frames scenes objects cameras qa "
                                          "rejects failures runs")
    sql.add_argument("query")
    sql.add_argument("--param", action="append", default=[], help="value bound to the next `?` (repeatable)")
    sql.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    sql.add_argument("--format", choices=("table", "csv", "json"), default="table")
    sql.set_defaults(handler=_sql)
    return parser


if __name__ == "__main__":
    sys.exit(main())
