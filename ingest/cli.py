"""`backtest`: the one command line entry point for what dbt does not do (download data, build
the demo market, run the pipeline). Bad input exits with code 2 and one line saying what to fix."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import date
from pathlib import Path

from ingest import freqtrade_import
from ingest.archive_source import DEFAULT_SOURCE, SourceError, open_source
from ingest.demo_market import DemoConfigError, EffectsError
from ingest.ingest_run import Ingester, LakeBusy
from ingest.plan import IngestRequest, RequestError
from ingest.research_run import RunRequestError
from ingest.warehouse_lock import WarehouseBusy


class UsageError(ValueError):
    """Input the user must fix; printed as one line, exit code 2."""


def default_data_root() -> Path:
    return Path(os.environ.get("BACKTEST_DATA_ROOT", "data"))


def _csv(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"'{value}' is not a date (YYYY-MM-DD)") from exc


def add_ingest(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ingest", help="download Binance archives into the Parquet lake")
    parser.add_argument("--source", default=DEFAULT_SOURCE,
                        help="archive base URL or a local folder laid out like it (default: %(default)s)")
    parser.add_argument("--market", required=True, type=_csv, help="um, spot, or both comma-separated")
    parser.add_argument("--kind", required=True, type=_csv,
                        help="klines, markPriceKlines, indexPriceKlines, premiumIndexKlines, fundingRate, "
                             "metrics, bookTicker, liquidationSnapshot (comma-separated)")
    parser.add_argument("--interval", default=None, help="kline interval, e.g. 5m (kline kinds only)")
    parser.add_argument("--symbols", required=True, type=_csv, help="e.g. BTCUSDT,ETHUSDT")
    parser.add_argument("--start", required=True, type=_date)
    parser.add_argument("--end", required=True, type=_date)
    parser.add_argument("--jobs", type=int, default=4, help="concurrent downloads (default: %(default)s)")
    parser.add_argument("--data-root", type=Path, default=None, help="default: $BACKTEST_DATA_ROOT or ./data")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.set_defaults(handler=run_ingest)


def run_ingest(args: argparse.Namespace) -> int:
    request = IngestRequest(markets=args.market, kinds=args.kind, symbols=args.symbols,
                            start=args.start, end=args.end, interval=args.interval)
    if args.jobs < 1:
        raise UsageError("--jobs must be at least 1")
    ingester = Ingester(source=open_source(args.source), data_root=args.data_root or default_data_root(),
                        jobs=args.jobs, show_progress=not args.quiet)
    report = ingester.run(request)
    for line in report.summary_lines():
        print(line)
    return 1 if report.count("quarantined") or report.count("failed") else 0


def add_demo_market(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo-market", help="write a synthetic Binance archive with planted effects")
    parser.add_argument("--out", required=True, type=Path, help="folder to write the archive into")
    parser.add_argument("--symbols", type=int, default=6, help="number of symbols (default: %(default)s)")
    parser.add_argument("--start", type=_date, default=date(2024, 3, 1), help="first day (default: %(default)s)")
    parser.add_argument("--months", type=int, default=12, help="months of data (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default: %(default)s)")
    parser.add_argument("--effects", type=Path, default=None, help="planted-effects YAML (default: the shipped one)")
    parser.set_defaults(handler=run_demo_market)


def run_demo_market(args: argparse.Namespace) -> int:
    from ingest.demo_market import DemoConfig, generate

    if args.symbols < 1 or args.months < 1:
        raise UsageError("--symbols and --months must be at least 1")
    if args.effects is not None and not args.effects.is_file():
        raise UsageError(f"effects file {args.effects} does not exist")
    out = generate(DemoConfig(out=args.out, symbols=args.symbols, start=args.start, months=args.months,
                              seed=args.seed, effects=args.effects), progress=print)
    print(f"demo-market: archive written to {out}")
    return 0


def _add_run_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", type=Path, default=None, help="default: $BACKTEST_DATA_ROOT or ./data")
    parser.add_argument("--run-id", default=None, help="folder name under reports/ (default: run-<UTC time>)")
    parser.add_argument("--full-refresh", action="store_true",
                        help="rebuild incremental models from scratch (after history in the lake changed)")


def _add_demo_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--demo-symbols", type=int, default=6, help="demo market symbols (default: %(default)s)")
    parser.add_argument("--demo-months", type=int, default=12, help="demo market months (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=7, help="demo market seed (default: %(default)s)")
    parser.add_argument("--rebuild", action="store_true", help="regenerate the demo archive")


def add_run(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="ingest, dbt build, export and report in one timed run")
    parser.add_argument("--source", default=None,
                        help="archive base URL (e.g. https://data.binance.vision) or a local folder laid out like "
                             "it; default: the embedded demo market")
    parser.add_argument("--symbols", type=_csv, default=(), help="e.g. BTCUSDT,ETHUSDT (default: all a folder holds)")
    parser.add_argument("--start", type=_date, default=None, help="first day to ingest (YYYY-MM-DD)")
    parser.add_argument("--end", type=_date, default=None, help="last day to ingest (YYYY-MM-DD)")
    _add_run_options(parser)
    _add_demo_options(parser)
    parser.set_defaults(handler=run_run, scope="all")


def add_demo(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="`backtest run` on the embedded demo market")
    _add_run_options(parser)
    _add_demo_options(parser)
    parser.set_defaults(handler=run_run, scope="all", source=None, symbols=(), start=None, end=None)


def add_discover_edges(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("discover-edges",
                            help="`backtest run` without ingest: phase 1, phase 2, bridge, backtest, export, report")
    _add_run_options(parser)
    parser.set_defaults(handler=run_run, scope="discovery", source=None, symbols=(), start=None, end=None)


def run_run(args: argparse.Namespace) -> int:
    from ingest.pipeline import DemoSettings, PipelineError
    from ingest.research_run import RunRequest, run_research

    demo = DemoSettings()
    if hasattr(args, "demo_symbols"):
        if args.demo_symbols < 1 or args.demo_months < 1:
            raise UsageError("--demo-symbols and --demo-months must be at least 1")
        demo = DemoSettings(symbols=args.demo_symbols, months=args.demo_months, seed=args.seed, rebuild=args.rebuild)
    request = RunRequest(data_root=args.data_root or default_data_root(), source=args.source, symbols=args.symbols,
                         start=args.start, end=args.end, run_id=args.run_id, scope=args.scope,
                         full_refresh=args.full_refresh, demo=demo)
    try:
        run_research(request, argv=["backtest", *sys.argv[1:]])
    except PipelineError as exc:
        print(f"backtest {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backtest", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    add_ingest(sub)
    freqtrade_import.register(sub)
    add_demo_market(sub)
    add_run(sub)
    add_demo(sub)
    add_discover_edges(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except (UsageError, RequestError, LakeBusy, WarehouseBusy, RunRequestError, SourceError, DemoConfigError,
            EffectsError) as exc:
        print(f"backtest {args.command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
