"""The pieces every run is made of: the demo archive (generated once), ingesting an archive window
through the real ingester (checksums included), and dbt invocations against one data root. Each
step is timed and announced, so a person watching a run sees where the time goes; the run itself
is ingest/research_run.py."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from ingest.archive_source import ArchiveSource, LocalFolderSource
from ingest.ingest_run import Ingester, IngestReport
from ingest.plan import IngestRequest

PROJECT_DIR = Path(__file__).resolve().parents[1]
UM_KINDS = ("klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines", "fundingRate",
            "metrics", "bookTicker", "liquidationSnapshot")


class PipelineError(RuntimeError):
    """A step failed; the message names the step and what to look at."""


@contextmanager
def step(name: str, say: Callable[[str], None] = print) -> Iterator[None]:
    say(f"==> {name}")
    started = time.perf_counter()
    yield
    say(f"    {name}: done in {time.perf_counter() - started:.1f}s")


@dataclass(frozen=True)
class ArchiveWindow:
    symbols: tuple[str, ...]
    start: date
    end: date


def archive_window(archive: Path) -> ArchiveWindow:
    """Symbols and dates an archive covers, read from its folders (the archive is the truth)."""
    monthly = archive / "data" / "futures" / "um" / "monthly" / "klines"
    symbols = tuple(sorted(p.name for p in monthly.iterdir() if p.is_dir())) if monthly.is_dir() else ()
    if not symbols:
        raise PipelineError(f"{archive} holds no futures/um monthly klines: is it a Binance-layout archive?")
    periods = sorted(p.name.rsplit("-", 2)[-2] + "-" + p.name.rsplit("-", 1)[-1][:2]
                     for p in (monthly / symbols[0]).rglob("*.zip"))
    first = date.fromisoformat(periods[0] + "-01")
    daily = sorted(p.stem.split("-", 2)[-1] for p in (archive / "data/futures/um/daily/klines").rglob("*.zip"))
    last_month = date.fromisoformat(periods[-1] + "-01")
    month_end = date(last_month.year + (last_month.month == 12), last_month.month % 12 + 1, 1) - timedelta(days=1)
    last = max([month_end] + [date.fromisoformat(d) for d in daily if len(d) == 10])
    return ArchiveWindow(symbols, first, last)


def ingest_window(source: ArchiveSource, window: ArchiveWindow, data_root: Path,
                  say: Callable[[str], None] = print, show_progress: bool = True) -> list[IngestReport]:
    """Every kind the warehouse uses (perp kinds and spot klines) for `window`, through the real
    ingester; raises PipelineError naming the quarantined or failed archives."""
    ingester = Ingester(source, data_root, jobs=4, show_progress=show_progress)
    reports = []
    for markets, kinds in ((("um",), UM_KINDS), (("spot",), ("klines",))):
        request = IngestRequest(markets, kinds, window.symbols, window.start, window.end, "5m")
        report = ingester.run(request)
        for line in report.summary_lines()[:1]:
            say(f"    {markets[0]}: {line}")
        if report.count("quarantined") or report.count("failed"):
            raise PipelineError("\n".join(report.summary_lines()))
        reports.append(report)
    return reports


def ingest_archive(archive: Path, data_root: Path, say: Callable[[str], None] = print) -> list[IngestReport]:
    """Every kind the warehouse uses, for every symbol and day a local archive holds."""
    return ingest_window(LocalFolderSource(archive), archive_window(archive), data_root, say)


def dbt_invocation(command: list[str], data_root: Path) -> tuple[int, Path]:
    """Run dbt from the project folder with the warehouse under `data_root`; its target and log
    folders live there too, so runs on different warehouses never share compiled state. Returns the
    exit code and the invocation's run_results.json (written by dbt even when a node fails)."""
    executable = Path(sys.executable).with_name("dbt")
    env = {**os.environ, "BACKTEST_DATA_ROOT": str(data_root), "DBT_PROFILES_DIR": str(PROJECT_DIR)}
    paths = ["--target-path", str(data_root / "target"), "--log-path", str(data_root / "logs")]
    result = subprocess.run([str(executable) if executable.exists() else "dbt", *command, *paths],
                            cwd=PROJECT_DIR, env=env)
    return result.returncode, data_root / "target" / "run_results.json"


def dbt_failure(command: list[str], code: int, data_root: Path) -> PipelineError:
    return PipelineError(f"dbt {' '.join(command)} failed (exit {code}); see the dbt output above "
                         f"and {data_root / 'logs' / 'dbt.log'}")


def dbt(command: list[str], data_root: Path) -> Path:
    """`dbt_invocation` that raises PipelineError when dbt fails."""
    code, run_results = dbt_invocation(command, data_root)
    if code != 0:
        raise dbt_failure(command, code, data_root)
    return run_results


@dataclass(frozen=True)
class DemoSettings:
    """The demo market a run generates when no --source is given."""

    symbols: int = 6
    months: int = 12
    seed: int = 7
    rebuild: bool = False


def prepare_demo_archive(data_root: Path, settings: DemoSettings, say: Callable[[str], None] = print) -> Path:
    """The demo archive under `<data root>/demo_market`, generated once and reused afterwards (its
    ground truth is what the planted effects are checked against)."""
    from ingest.demo_market import DemoConfig, generate

    archive = data_root / "demo_market"
    marker = archive / "ground_truth" / "config.json"
    if settings.rebuild and archive.exists():
        shutil.rmtree(archive)
    if marker.exists():
        say(f"    demo market: reusing {archive} (delete it or pass --rebuild for a new one)")
    else:
        say(f"    demo market: generating {settings.symbols} symbols x {settings.months} months (seed {settings.seed})")
        generate(DemoConfig(out=archive, symbols=settings.symbols, months=settings.months, seed=settings.seed),
                 progress=lambda line: say(f"    {line}"))
    return archive
