"""`backtest import-freqtrade <user_data/data/binance>`: load a freqtrade data directory into the lake.

Many researchers already hold Binance candles and funding as freqtrade `.feather` files; this turns
them into the same lake series the archive ingester writes (../shared/data/README.md, freqtrade):

- `<BASE>_<QUOTE>-<tf>.feather`                          -> spot `klines`
- `futures/<BASE>_<QUOTE>_<SETTLE>-<tf>-futures.feather`      -> um `klines`
- `futures/<BASE>_<QUOTE>_<SETTLE>-<tf>-mark.feather`         -> um `markPriceKlines`
- `futures/<BASE>_<QUOTE>_<SETTLE>-<tf>-funding_rate.feather` -> um `fundingRate`
  (also `-index` / `-premiumIndex` -> `indexPriceKlines` / `premiumIndexKlines`)

Each series lands in `lake/raw/<market>/<kind>/[interval=<i>/]symbol=<S>/freqtrade.parquet` in the
exact lake schema, with one ledger entry (`period` = `freqtrade`). Columns freqtrade does not keep are
NULL, never zero. Every file is read and converted before anything is written, so a corrupt or
malformed file stops the import with the lake untouched; a file whose rows are already stored is not
rewritten, so a re-import leaves the lake byte-identical.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.feather as feather
import pyarrow.parquet as pq

from ingest.ingest_run import lake_lock, remove_stale_temp_files
from ingest.kinds import INTERVALS, KINDS, SYMBOL_RE, lake_dir
from ingest.lake import LedgerEntry, lake_root, record, write_parquet_atomic
from ingest.parse_archive import drop_duplicates
from ingest.progress import Progress

PERIOD = "freqtrade"
"""Lake file stem and ledger period of every imported series (one file per series)."""

FUTURES_DIR = "futures"
CANDLE_KINDS: dict[str, str] = {
    "futures": "klines",
    "mark": "markPriceKlines",
    "funding_rate": "fundingRate",
    "index": "indexPriceKlines",
    "premiumIndex": "premiumIndexKlines",
}
"""freqtrade candle type (file name suffix) -> lake kind of the um market."""

FILE_RE = re.compile(r"^(?P<pair>[^-]+)-(?P<tf>[^-]+)(?:-(?P<candle>[^-]+))?\.feather$")
TF_RE = re.compile(r"^(?P<count>[1-9][0-9]*)(?P<unit>[smhdw])$")
UNIT_MS: dict[str, int] = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
HOUR_US = 3_600_000_000
DAY_MS = UNIT_MS["d"]
OTHER_FORMATS = (".json", ".json.gz", ".jsongz", ".parquet", ".h5", ".hdf5")

ABSENT: dict[str, list[str]] = {
    "klines": ["quote_volume", "trade_count", "taker_buy_base_volume", "taker_buy_quote_volume"],
    "markPriceKlines": ["data_points"],
    "indexPriceKlines": ["data_points"],
    "premiumIndexKlines": ["data_points"],
    "fundingRate": [],
}
"""Lake columns freqtrade does not store: written as NULL and listed in the ledger."""

PRICE_COLUMNS = ("open", "high", "low", "close")


class FreqtradeImportError(ValueError):
    """Input the user must fix (the CLI turns it into a one-line error, exit code 2)."""


class NotAFreqtradeDirectory(FreqtradeImportError):
    """The path is missing, not a folder, or holds no importable freqtrade file."""


class FreqtradeFileError(FreqtradeImportError):
    """One feather file is corrupt or does not hold what its name promises; names the file."""


@dataclass(frozen=True)
class Series:
    """One freqtrade file and the lake series it becomes."""

    path: Path
    market: str
    kind: str
    interval: str | None
    """Lake interval (None for funding, whose `<tf>` in the name is nominal)."""
    symbol: str
    timeframe: str
    """The `<tf>` written in the file name."""

    @property
    def key(self) -> tuple[str, str, str | None, str]:
        return self.market, self.kind, self.interval, self.symbol

    def lake_file(self, data_root: Path) -> Path:
        return lake_root(data_root) / lake_dir(self.market, self.kind, self.symbol, self.interval) / f"{PERIOD}.parquet"


@dataclass(frozen=True)
class Skipped:
    path: Path
    reason: str


@dataclass(frozen=True)
class Converted:
    """A file's rows in the lake schema, with what the ledger needs to say about them."""

    table: pa.Table
    rows_read: int
    duplicates_dropped: int
    time_unit: str
    message: str | None = None
    funding_intervals: tuple[int, ...] = ()
    """Distinct derived funding intervals in hours (funding only)."""


@dataclass
class FileOutcome:
    series: Series
    status: str
    """`imported` (lake file written) or `unchanged` (same rows already stored)."""
    rows_read: int
    rows_written: int
    duplicates_dropped: int
    message: str | None = None
    funding_intervals: tuple[int, ...] = ()


@dataclass
class ImportReport:
    directory: Path
    outcomes: list[FileOutcome]
    skipped: list[Skipped]
    seconds: float = 0.0

    @property
    def interval_changes(self) -> dict[str, tuple[int, ...]]:
        """Funding symbol -> its distinct derived intervals (hours), where there is more than one."""
        return {o.series.symbol: o.funding_intervals for o in self.outcomes if len(o.funding_intervals) > 1}

    def summary_lines(self) -> list[str]:
        """One line per (market, kind), the skipped files, and a total."""
        lines: list[str] = []
        groups: dict[tuple[str, str], list[FileOutcome]] = {}
        for outcome in self.outcomes:
            groups.setdefault((outcome.series.market, outcome.series.kind), []).append(outcome)
        for (market, kind), outcomes in sorted(groups.items()):
            intervals = sorted({o.series.interval for o in outcomes if o.series.interval},
                               key=INTERVALS.index)
            label = f"{market} {kind}" + (f" {','.join(intervals)}" if intervals else "")
            line = f"  {label}: {_counts(outcomes)}"
            changes = self.interval_changes
            if kind == "fundingRate" and changes:
                changed = ", ".join(f"{s} ({'/'.join(f'{h}h' for h in hours)})"
                                    for s, hours in sorted(changes.items()))
                line += f"; interval changes: {changed}"
            lines.append(line)
        for skip in self.skipped:
            lines.append(f"  skipped {_relative(skip.path, self.directory)}: {skip.reason}")
        lines.append(f"import-freqtrade {self.directory}: {_counts(self.outcomes)}, "
                     f"{len(self.skipped)} skipped, in {self.seconds:.1f}s")
        return lines


def _counts(outcomes: list[FileOutcome]) -> str:
    written = sum(1 for o in outcomes if o.status == "imported")
    return (f"{len(outcomes)} files ({written} written, {len(outcomes) - written} unchanged), "
            f"{sum(o.rows_written for o in outcomes):,} rows, "
            f"{sum(o.duplicates_dropped for o in outcomes):,} duplicates dropped")


def _relative(path: Path, directory: Path) -> str:
    try:
        return str(path.relative_to(directory))
    except ValueError:
        return str(path)


# --- file names -------------------------------------------------------------------------------


def timeframe_ms(tf: str) -> int | None:
    """Length of a fixed-length timeframe in ms (`5m` -> 300000); None for anything else
    (freqtrade's `1M` month candles have no fixed length, so no close_time can be derived)."""
    match = TF_RE.match(tf)
    if not match or tf not in INTERVALS:
        return None
    return int(match["count"]) * UNIT_MS[match["unit"]]


def classify(path: Path) -> Series | Skipped:
    """Map one file name to its lake series, or say why it is not imported. Decided from the name
    alone (freqtrade keeps futures under `futures/`, but the name already says which is which)."""
    name = path.name
    if not name.endswith(".feather"):
        if name.endswith(OTHER_FORMATS):
            return Skipped(path, "only .feather files are imported; convert with "
                                 "`freqtrade convert-data --format-to feather`")
        return Skipped(path, "not a freqtrade data file")
    match = FILE_RE.match(name)
    if not match:
        return Skipped(path, "name is not <PAIR>-<timeframe>[-<candle type>].feather")
    parts, tf, candle = match["pair"].split("_"), match["tf"], match["candle"]
    if tf == "trades" or candle == "trades":
        return Skipped(path, "trades files are not imported (candles and funding only)")
    if candle is None:
        if len(parts) != 2:
            return Skipped(path, "spot file name must be <BASE>_<QUOTE>-<tf>.feather")
        market, kind, symbol = "spot", "klines", parts[0] + parts[1]
    else:
        if candle not in CANDLE_KINDS:
            return Skipped(path, f"unknown candle type '{candle}' (known: {', '.join(CANDLE_KINDS)})")
        if len(parts) != 3:
            return Skipped(path, "futures file name must be <BASE>_<QUOTE>_<SETTLE>-<tf>-<type>.feather")
        if parts[2] != parts[1]:
            return Skipped(path, f"settles in {parts[2]}, not {parts[1]}: coin-margined futures are "
                                 "not in the lake (USD-M only)")
        market, kind, symbol = "um", CANDLE_KINDS[candle], parts[0] + parts[2]
    if not SYMBOL_RE.match(symbol):
        return Skipped(path, f"symbol '{symbol}' is not upper-case letters and digits")
    if timeframe_ms(tf) is None:
        return Skipped(path, f"timeframe '{tf}' is not a fixed-length interval the lake knows")
    interval = tf if KINDS[kind].has_interval else None
    return Series(path, market, kind, interval, symbol, tf)


def discover(directory: Path) -> tuple[list[Series], list[Skipped]]:
    """Every file at the top of a freqtrade exchange folder and in its `futures/` subfolder. When two
    files map to one lake series (e.g. funding saved under two nominal timeframes), the first by
    name is imported and the others are listed as skipped."""
    files = sorted(p for folder in (directory, directory / FUTURES_DIR) if folder.is_dir()
                   for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    found: dict[tuple[str, str, str | None, str], Series] = {}
    skipped: list[Skipped] = []
    for path in files:
        item = classify(path)
        if isinstance(item, Skipped):
            skipped.append(item)
        elif item.key in found:
            skipped.append(Skipped(path, f"same lake series as {found[item.key].path.name}, "
                                         "which is imported instead"))
        else:
            found[item.key] = item
    return list(found.values()), skipped


def check_directory(directory: Path) -> tuple[list[Series], list[Skipped]]:
    """`discover`, or a clear error when there is nothing to import."""
    expected = ("a freqtrade exchange data folder such as user_data/data/binance, holding "
                "<BASE>_USDT-<tf>.feather and/or futures/<BASE>_USDT_USDT-<tf>-<type>.feather files")
    if not directory.exists():
        raise NotAFreqtradeDirectory(f"{directory} does not exist; expected {expected}")
    if not directory.is_dir():
        raise NotAFreqtradeDirectory(f"{directory} is a file, not a folder; expected {expected}")
    series, skipped = discover(directory)
    if not series:
        hint = f" (did you mean {directory / 'binance'}?)" if (directory / "binance").is_dir() else ""
        seen = ", ".join(_relative(s.path, directory) for s in skipped[:5]) or "no files"
        raise NotAFreqtradeDirectory(f"{directory} holds no freqtrade data files{hint}: found {seen}; "
                                     f"expected {expected}")
    return series, skipped


# --- conversion -------------------------------------------------------------------------------


def read_feather(path: Path) -> tuple[pa.Table, str]:
    """The file's table and the sha256 of its bytes (read once); any read failure names the file."""
    try:
        payload = path.read_bytes()
        table = feather.read_table(pa.BufferReader(payload))
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise FreqtradeFileError(f"{path}: not a readable feather file ({type(exc).__name__}: {exc})") from exc
    return table, hashlib.sha256(payload).hexdigest()


def _require(raw: pa.Table, columns: tuple[str, ...], path: Path) -> None:
    missing = [c for c in columns if c not in raw.column_names]
    if missing:
        raise FreqtradeFileError(f"{path}: missing column(s) {', '.join(missing)}; found "
                                 f"{', '.join(raw.column_names)}")
    for column in columns[1:]:
        if not (pa.types.is_floating(raw[column].type) or pa.types.is_integer(raw[column].type)):
            raise FreqtradeFileError(f"{path}: column {column} is {raw[column].type}, expected numbers")


def epoch_us(column: pa.ChunkedArray, path: Path) -> tuple[pa.ChunkedArray, str]:
    """freqtrade's `date` (any timestamp unit, UTC) as `timestamp[us, UTC]`, plus the source unit.
    Sub-microsecond digits are truncated (freqtrade dates are whole milliseconds)."""
    if not pa.types.is_timestamp(column.type):
        raise FreqtradeFileError(f"{path}: column date is {column.type}, expected a timestamp")
    if column.null_count:
        raise FreqtradeFileError(f"{path}: column date has {column.null_count} empty values")
    unit = column.type.unit
    ints = column.cast(pa.int64())
    scale = {"s": 1_000_000, "ms": 1_000, "us": 1}
    micros = pc.divide(ints, 1_000) if unit == "ns" else pc.multiply(ints, scale[unit])
    return micros.cast(pa.timestamp("us", tz="UTC")), unit


def _numbers(raw: pa.Table, column: str) -> pa.ChunkedArray:
    return raw[column].cast(pa.float64())


def _nulls(spec_schema: pa.Schema, columns: list[str], rows: int) -> dict[str, pa.Array]:
    return {c: pa.nulls(rows, spec_schema.field(c).type) for c in columns}


def check_cadence(open_time: pa.ChunkedArray, step_ms: int, series: Series) -> None:
    """Sorted, deduplicated open times must sit on the interval's grid and never be closer than one
    interval: otherwise the name's timeframe is wrong and every derived close_time would be too."""
    if len(open_time) == 0:
        return
    ints = open_time.cast(pa.int64()).combine_chunks()
    step = step_ms * 1_000
    if step_ms <= DAY_MS:
        off = pc.not_equal(pc.subtract(ints, pc.multiply(pc.divide(ints, step), step)), 0)
        if pc.any(off).as_py():
            row = pc.index(off, True).as_py()
            raise FreqtradeFileError(f"{series.path}: candle {open_time[row].as_py()} is not on the "
                                     f"{series.timeframe} grid the file name promises")
    if len(ints) > 1:
        closest = pc.min(pc.subtract(ints.slice(1), ints.slice(0, len(ints) - 1))).as_py()
        if closest < step:
            raise FreqtradeFileError(f"{series.path}: candles {closest // 1_000_000}s apart, closer than "
                                     f"the {series.timeframe} the file name promises")


def kline_table(raw: pa.Table, series: Series) -> Converted:
    """Candles -> `klines` / `*PriceKlines` lake rows. close_time = open_time + interval - 1 ms, as in
    Binance's own files. Mark/index volume (always 0 in freqtrade) is dropped, not stored."""
    spec = KINDS[series.kind]
    price_only = series.kind != "klines"
    _require(raw, ("date",) + PRICE_COLUMNS + (() if price_only else ("volume",)), series.path)
    open_time, unit = epoch_us(raw["date"], series.path)
    step_ms = timeframe_ms(series.timeframe) or 0
    close_time = pc.add(open_time, pa.scalar(step_ms * 1_000 - 1_000, pa.duration("us")))
    columns: dict[str, object] = {"open_time": open_time, "close_time": close_time}
    columns.update({c: _numbers(raw, c) for c in PRICE_COLUMNS + (() if price_only else ("volume",))})
    columns.update(_nulls(spec.schema, ABSENT[series.kind], raw.num_rows))
    table = pa.table({name: columns[name] for name in spec.schema.names}, schema=spec.schema)
    table, dropped = drop_duplicates(table, spec.key)
    check_cadence(table["open_time"], step_ms, series)
    return Converted(table, raw.num_rows, dropped, unit)


def funding_table(raw: pa.Table, series: Series) -> Converted:
    """Funding rows -> `fundingRate` lake rows.

    funding_time keeps freqtrade's raw `date` (jitter such as 16:00:00.011 kept); settlement_time is
    that time rounded to the nearest hour, the natural key duplicates are dropped on; funding_rate is
    `open`. The `<tf>` in the file name is nominal, so funding_interval_hours is derived per row as
    the gap in hours from the previous settlement: after an interval change the first settlement
    carries the gap it actually accrued over (e.g. 3 when a 1h series moves to 4h at 08:00 after
    05:00). The first row has no previous settlement: it takes the second row's gap (the cadence
    the series opens with), and a one-row series gets NULL because nothing can be derived.
    """
    spec = KINDS["fundingRate"]
    _require(raw, ("date", "open"), series.path)
    funding_time, unit = epoch_us(raw["date"], series.path)
    micros = funding_time.cast(pa.int64())
    hour = pc.multiply(pc.divide(pc.add(micros, HOUR_US // 2), HOUR_US), HOUR_US)
    keyed = pa.table({"funding_time": funding_time,
                      "settlement_time": hour.cast(pa.timestamp("us", tz="UTC")),
                      "funding_rate": _numbers(raw, "open")})
    keyed, dropped = drop_duplicates(keyed, spec.key)
    hours = derive_interval_hours(keyed["settlement_time"])
    table = pa.table({"funding_time": keyed["funding_time"], "settlement_time": keyed["settlement_time"],
                      "funding_interval_hours": hours, "funding_rate": keyed["funding_rate"]},
                     schema=spec.schema)
    distinct = tuple(sorted(h for h in pc.unique(hours).to_pylist() if h is not None))
    return Converted(table, raw.num_rows, dropped, unit, describe_intervals(table), distinct)


def derive_interval_hours(settlement: pa.ChunkedArray) -> pa.Array:
    """Whole hours since the previous settlement (sorted, distinct, on the hour); see funding_table."""
    ints = settlement.cast(pa.int64()).combine_chunks()
    if len(ints) < 2:
        return pa.nulls(len(ints), pa.int32())
    gaps = pc.divide(pc.subtract(ints.slice(1), ints.slice(0, len(ints) - 1)), HOUR_US).cast(pa.int32())
    return pa.concat_arrays([gaps.slice(0, 1), gaps])


def describe_intervals(table: pa.Table) -> str | None:
    """Ledger note: how many settlements per derived interval and where the cadence changed (a
    loop over change points only, never over rows)."""
    hours = table["funding_interval_hours"].combine_chunks()
    if len(hours) == 0 or hours.null_count == len(hours):
        return None
    counts = pc.value_counts(hours)
    seen = sorted((v.as_py(), c.as_py()) for v, c in zip(counts.field("values"), counts.field("counts")))
    text = "funding_interval_hours from settlement gaps: " + ", ".join(f"{h}h x{n}" for h, n in seen)
    changed = pc.not_equal(hours.slice(1), hours.slice(0, len(hours) - 1))
    where = pc.indices_nonzero(changed).to_pylist()
    if where:
        shown = [f"{table['settlement_time'][i + 1].as_py():%Y-%m-%dT%H:%MZ} "
                 f"{hours[i].as_py()}h->{hours[i + 1].as_py()}h" for i in where[:12]]
        more = f" and {len(where) - 12} more" if len(where) > 12 else ""
        text += f"; {len(where)} changes: " + ", ".join(shown) + more
    return text


def convert(series: Series, raw: pa.Table) -> Converted:
    """Dispatch on kind; conversion errors name the file."""
    try:
        if series.kind == "fundingRate":
            return funding_table(raw, series)
        return kline_table(raw, series)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise FreqtradeFileError(f"{series.path}: cannot convert to the {series.kind} lake schema ({exc})") from exc


# --- writing ----------------------------------------------------------------------------------


def store_if_changed(table: pa.Table, target: Path) -> bool:
    """Write `table` unless the lake file already holds exactly these rows (so a re-import rewrites
    nothing: same bytes, same mtime). Returns True when the file was written."""
    if target.exists():
        try:
            if pq.read_table(target).equals(table):
                return False
        except (pa.ArrowException, OSError):
            pass  # unreadable lake file: replace it
    write_parquet_atomic(table, target)
    return True


def _ledger_entry(series: Series, data_root: Path, converted: Converted, sha: str) -> LedgerEntry:
    return LedgerEntry(
        market=series.market, kind=series.kind, symbol=series.symbol, interval=series.interval,
        period=PERIOD, status="imported", source_url=str(series.path), sha256=sha,
        rows_read=converted.rows_read, rows_written=converted.table.num_rows,
        duplicates_dropped=converted.duplicates_dropped, time_unit=converted.time_unit,
        lake_path=str(series.lake_file(data_root).relative_to(lake_root(data_root))),
        absent_columns=list(ABSENT[series.kind]), message=converted.message,
        ingested_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )


def import_series(series: Series, data_root: Path) -> FileOutcome:
    """Read, convert, store and record one file."""
    raw, sha = read_feather(series.path)
    converted = convert(series, raw)
    written = store_if_changed(converted.table, series.lake_file(data_root))
    record(data_root, _ledger_entry(series, data_root, converted, sha))
    return FileOutcome(series, "imported" if written else "unchanged", converted.rows_read,
                       converted.table.num_rows, converted.duplicates_dropped, converted.message,
                       converted.funding_intervals)


def validate_all(series: list[Series], show_progress: bool) -> None:
    """Read and convert every file once before writing any: a corrupt file late in the folder must
    not leave the lake holding half an import. Nothing is kept, so memory stays at one file."""
    progress = Progress("import-freqtrade check", len(series), enabled=show_progress)
    for item in series:
        raw, _ = read_feather(item.path)
        rows = convert(item, raw).table.num_rows
        progress.advance(nbytes=item.path.stat().st_size, rows=rows)
    progress.finish()


def import_directory(directory: Path, data_root: Path, show_progress: bool = False) -> ImportReport:
    """Import every freqtrade file under `directory` into the lake under `data_root`. Holds the
    ingest lock, so an import and an archive ingest never write the lake at once."""
    started = time.perf_counter()
    directory = Path(directory).expanduser().resolve()
    series, skipped = check_directory(directory)
    validate_all(series, show_progress)
    outcomes: list[FileOutcome] = []
    with lake_lock(data_root):
        remove_stale_temp_files(data_root)
        progress = Progress("import-freqtrade", len(series), enabled=show_progress)
        for item in series:
            outcome = import_series(item, data_root)
            outcomes.append(outcome)
            progress.advance(nbytes=item.path.stat().st_size, rows=outcome.rows_written,
                             note=outcome.status if outcome.status != "imported" else None)
        progress.finish()
    return ImportReport(directory, outcomes, skipped, time.perf_counter() - started)


# --- command line -----------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `import-freqtrade` to the `backtest` command line."""
    parser = subparsers.add_parser("import-freqtrade",
                                   help="import a freqtrade data folder (user_data/data/binance) into the lake")
    parser.add_argument("directory", type=Path, help="freqtrade exchange data folder, e.g. user_data/data/binance")
    parser.add_argument("--data-root", type=Path, default=None, help="default: $BACKTEST_DATA_ROOT or ./data")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.set_defaults(handler=run_import)


def run_import(args: argparse.Namespace) -> int:
    """CLI handler: bad input is re-raised as the CLI's UsageError (exit code 2, one line)."""
    from ingest.cli import UsageError, default_data_root  # here, not at the top: cli imports us

    try:
        report = import_directory(args.directory, args.data_root or default_data_root(),
                                  show_progress=not args.quiet)
    except FreqtradeImportError as exc:
        raise UsageError(str(exc)) from exc
    for line in report.summary_lines():
        print(line)
    return 0

