"""Turn one verified Binance zip into an Arrow table in the lake schema of its kind.

Survives the archive's quirks (../shared/reference/binance_data.md section 2): header or no header
(columns are mapped by position, never by header name), millisecond vs microsecond epochs (decided
per file; every row must agree and fall within the file's period), duplicate rows (dropped on the
kind's natural key, counted), exactly one CSV at the zip root, funding time jitter (raw time kept,
settlement hour derived), metrics rows out of order and their label convention.
Parsing is columnar (pyarrow), never a Python loop over rows.
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from isal import isal_zlib

from ingest.kinds import KINDS, KLINE_CSV, PRICE_KLINE_SCHEMA, KindSpec

US_PER_MS = 1_000
MICROSECOND_THRESHOLD = 10**15
"""Epochs at or above this are microseconds (year 2001 onwards in us; year 33658 in ms)."""
MILLISECOND_FLOOR = 10**11
HOUR_MS = 3_600_000
FIVE_MINUTES = timedelta(minutes=5)
TIMESTAMP_US = pa.timestamp("us", tz="UTC")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class ArchiveFormatError(ValueError):
    """The archive's content is not what its kind promises; the message names file and row."""


@dataclass(frozen=True)
class ParsedArchive:
    table: pa.Table
    rows_read: int
    duplicates_dropped: int
    time_unit: str | None
    had_header: bool


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[start, end) of a `YYYY-MM` or `YYYY-MM-DD` archive period, in UTC."""
    if len(period) == 7:
        year, month = int(period[:4]), int(period[5:7])
        start = datetime(year, month, 1, tzinfo=timezone.utc)
        end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=timezone.utc)
    else:
        day = date.fromisoformat(period)
        start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
        end = start + timedelta(days=1)
    return start, end


def extract_single_csv(zip_bytes: bytes, name: str) -> bytes:
    """The one CSV at the zip root; anything else (two CSVs, nested, none) is an error."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
        members = [
            info for info in archive.infolist()
            if not info.is_dir() and not info.filename.startswith("__MACOSX/")
        ]
        csvs = [info for info in members if info.filename.lower().endswith(".csv")]
        if len(csvs) != 1 or "/" in csvs[0].filename:
            listed = ", ".join(info.filename for info in members) or "nothing"
            raise ArchiveFormatError(
                f"{name}: expected exactly one CSV at the zip root, found {listed}"
            )
        return _read_member(zip_bytes, archive, csvs[0])
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as exc:
        raise ArchiveFormatError(f"{name}: corrupt zip ({exc})") from exc
    except Exception as exc:  # zlib errors and CRC mismatches surface as various types
        if isinstance(exc, ArchiveFormatError):
            raise
        raise ArchiveFormatError(f"{name}: corrupt zip ({type(exc).__name__}: {exc})") from exc


_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
"""A zip member's local file header (APPNOTE 4.3.7); names and extra fields follow it."""


def _read_member(zip_bytes: bytes, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> bytes:
    """The member's bytes, inflated in one call with ISA-L (2-3x zlib, which `zipfile` uses) into a
    buffer of the size the central directory declares, then checked against its size and CRC-32
    exactly as `zipfile` would. Members that are neither stored nor deflated, or encrypted, go through
    `zipfile` itself."""
    if info.flag_bits & 0x1 or info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return archive.read(info)
    offset = info.header_offset
    if offset + _LOCAL_HEADER.size > len(zip_bytes):
        raise zipfile.BadZipFile(f"{info.filename}: local header past the end of the file")
    header = _LOCAL_HEADER.unpack_from(zip_bytes, offset)
    if header[0] != b"PK\x03\x04":
        raise zipfile.BadZipFile(f"{info.filename}: bad local file header")
    start = offset + _LOCAL_HEADER.size + header[10] + header[11]  # + file name + extra field
    end = start + info.compress_size
    if end > len(zip_bytes):
        raise zipfile.BadZipFile(f"{info.filename}: truncated member")
    packed = memoryview(zip_bytes)[start:end]
    if info.compress_type == zipfile.ZIP_STORED:
        data = bytes(packed)
    else:
        # One byte of headroom: a buffer filled to the brim is grown (and its pages faulted in
        # anew, ~2 us each here) just to learn that the stream has ended.
        data = isal_zlib.decompress(packed, wbits=-15, bufsize=info.file_size + 1)
    if len(data) != info.file_size:
        raise zipfile.BadZipFile(f"{info.filename}: inflates to {len(data)} bytes, the directory says "
                                 f"{info.file_size}")
    if isal_zlib.crc32(data) != info.CRC:
        raise zipfile.BadZipFile(f"Bad CRC-32 for file {info.filename!r}")
    return data


def _csv_types(spec: KindSpec) -> dict[str, pa.DataType]:
    types: dict[str, pa.DataType] = {}
    for column in spec.csv_columns:
        if column in spec.epoch_columns or column in ("count", "update_id", "funding_interval_hours"):
            types[column] = pa.int64()
        elif column in ("create_time", "symbol", "side", "order_type", "time_in_force",
                        "order_status", "ignore"):
            types[column] = pa.string()
        else:
            types[column] = pa.float64()
    return types


def _used_columns(spec: KindSpec) -> list[str]:
    """The CSV columns the lake table is built from: the kline family's trailing `ignore` column (and
    the volume columns of price klines, which the lake does not keep) are tokenised, never converted."""
    if spec.csv_columns != KLINE_CSV:
        return list(spec.csv_columns)
    if spec.schema == PRICE_KLINE_SCHEMA:
        return ["open_time", "open", "high", "low", "close", "close_time", "count"]
    return [column for column in spec.csv_columns if column != "ignore"]


def read_csv(csv_bytes: bytes, spec: KindSpec, name: str) -> tuple[pa.Table, bool]:
    """Parse by position; a first line that does not start with a digit is a header."""
    first = csv_bytes[3:4] if csv_bytes[:3] == b"\xef\xbb\xbf" else csv_bytes[:1]
    had_header = bool(first) and not first.isdigit()
    types = _csv_types(spec)
    used = _used_columns(spec)
    if not first:
        return pa.table({c: pa.chunked_array([], types[c]) for c in used}), had_header
    try:
        table = pacsv.read_csv(
            pa.BufferReader(csv_bytes),  # zero-copy, unlike a BytesIO read through Python
            read_options=pacsv.ReadOptions(
                column_names=list(spec.csv_columns), skip_rows=1 if had_header else 0,
                block_size=1 << 24, use_threads=False,
            ),
            parse_options=pacsv.ParseOptions(newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types=types, include_columns=used, strings_can_be_null=False,
                true_values=["true", "True"], false_values=["false", "False"],
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ArchiveFormatError(
            f"{name}: malformed CSV ({exc}); the file does not match the {spec.name} layout "
            f"of {len(spec.csv_columns)} columns"
        ) from exc
    return table, had_header


def _int64_values(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """The int64 values of a column without nulls as a numpy array: a view of the Arrow buffer (one
    copy when the column has several chunks). `to_numpy()` and Python scalars would send pyarrow
    through its pandas shim, importing pandas (~0.2 s) into a process that parses klines."""
    if isinstance(values, pa.ChunkedArray):
        array = values.chunk(0) if values.num_chunks == 1 else values.combine_chunks()
    else:
        array = values
    if len(array) == 0:
        return np.empty(0, np.int64)
    if array.type != pa.int64() and not pa.types.is_timestamp(array.type):
        array = array.cast(pa.int64())
    return np.frombuffer(array.buffers()[1], dtype=np.int64, count=len(array), offset=array.offset * 8)


def _unit_of(values: np.ndarray, name: str, column: str) -> str:
    low, high = int(values.min()), int(values.max())
    if low >= MICROSECOND_THRESHOLD:
        return "us"
    if high < MICROSECOND_THRESHOLD and low >= MILLISECOND_FLOOR:
        return "ms"
    above = np.flatnonzero(values >= MICROSECOND_THRESHOLD)
    mixed = int(above[0]) if len(above) else -1
    raise ArchiveFormatError(
        f"{name}: column {column} mixes millisecond and microsecond epochs "
        f"(row {mixed + 1} differs from row 1); every row of a file must use one unit"
    )


def detect_time_unit(values: pa.ChunkedArray, name: str, column: str) -> str:
    """`ms` or `us` for the whole file; a file mixing both, or holding neither, is rejected."""
    if len(values) == 0:
        return "ms"
    if values.null_count:
        raise ArchiveFormatError(f"{name}: column {column} has empty values")
    return _unit_of(_int64_values(values), name, column)


def to_timestamp(values: pa.ChunkedArray, unit: str) -> pa.ChunkedArray:
    if values.null_count:
        micros = values if unit == "us" else pc.multiply(values, US_PER_MS)
        return micros.cast(pa.int64()).cast(TIMESTAMP_US)
    ints = _int64_values(values)
    micros = ints if unit == "us" else ints * US_PER_MS  # no overflow: ms epochs are < 10**15
    return pa.chunked_array([pa.Array.from_buffers(TIMESTAMP_US, len(micros), [None, pa.py_buffer(micros)])])


def check_in_period(times: pa.ChunkedArray, period: str, name: str, column: str) -> None:
    """Every row must lie within the file's period +/- one day (catches unit and file mix-ups)."""
    if len(times) == 0:
        return
    start, end = period_bounds(period)
    times = times.cast(TIMESTAMP_US)  # no-op for the lake's timestamps
    bounds = pc.min_max(times)
    low_us = (start - timedelta(days=1) - EPOCH) // timedelta(microseconds=1)
    high_us = (end + timedelta(days=1) - EPOCH) // timedelta(microseconds=1)
    if not bounds["min"].is_valid or (low_us <= bounds["min"].value and bounds["max"].value <= high_us):
        return  # the common case: decided from the extremes, no per-row pass
    low = pa.scalar(start - timedelta(days=1), TIMESTAMP_US)
    high = pa.scalar(end + timedelta(days=1), TIMESTAMP_US)
    outside = pc.or_(pc.less(times, low), pc.greater(times, high))
    row = pc.index(outside, True).as_py()
    raise ArchiveFormatError(
        f"{name}: row {row + 1} has {column}={times[row].as_py()} outside the file's period "
        f"{period}"
    )


def drop_duplicates(table: pa.Table, key: tuple[str, ...]) -> tuple[pa.Table, int]:
    """Sort on the key (stable: the first occurrence wins) and drop rows equal on the key."""
    if table.num_rows == 0:
        return table, 0
    if len(key) == 1 and table.num_rows > 1:
        values = table.column(key[0]).combine_chunks()
        if values.null_count == 0 and pc.all(pc.greater(values.slice(1), values.slice(0, len(values) - 1))).as_py():
            return table, 0  # already strictly ordered on its key: the common case, no sort needed
    table = table.take(pc.sort_indices(table, [(column, "ascending") for column in key]))
    same = None
    for column in key:
        values = table.column(column).combine_chunks()
        equal = pc.equal(values.slice(1), values.slice(0, len(values) - 1))
        equal = pc.fill_null(equal, pc.and_(pc.is_null(values.slice(1)), pc.is_null(values.slice(0, len(values) - 1))))
        same = equal if same is None else pc.and_(same, equal)
    keep = pa.concat_arrays([pa.array([True]), pc.invert(same)])
    kept = table.filter(keep)
    return kept, table.num_rows - kept.num_rows


def _epochs(table: pa.Table, spec: KindSpec, name: str, period: str) -> tuple[dict[str, pa.ChunkedArray], str | None]:
    if not spec.epoch_columns:
        return {}, None
    unit = detect_time_unit(table.column(spec.epoch_columns[0]), name, spec.epoch_columns[0])
    converted: dict[str, pa.ChunkedArray] = {}
    for column in spec.epoch_columns:
        other = unit if column == spec.epoch_columns[0] else detect_time_unit(table.column(column), name, column)
        if other != unit:
            raise ArchiveFormatError(f"{name}: {column} is in {other} but {spec.epoch_columns[0]} in {unit}")
        converted[column] = to_timestamp(table.column(column), unit)
    check_in_period(converted[spec.epoch_columns[0]], period, name, spec.epoch_columns[0])
    return converted, unit


def _kline_table(raw: pa.Table, times: dict[str, pa.ChunkedArray], spec: KindSpec) -> pa.Table:
    if spec.name == "klines":
        columns = {
            "open_time": times["open_time"], "open": raw["open"], "high": raw["high"],
            "low": raw["low"], "close": raw["close"], "volume": raw["volume"],
            "close_time": times["close_time"], "quote_volume": raw["quote_volume"],
            "trade_count": raw["count"], "taker_buy_base_volume": raw["taker_buy_volume"],
            "taker_buy_quote_volume": raw["taker_buy_quote_volume"],
        }
    else:
        columns = {
            "open_time": times["open_time"], "open": raw["open"], "high": raw["high"],
            "low": raw["low"], "close": raw["close"], "close_time": times["close_time"],
            "data_points": raw["count"],
        }
    return pa.table(columns, schema=spec.schema)


def _funding_table(raw: pa.Table, times: dict[str, pa.ChunkedArray], spec: KindSpec) -> pa.Table:
    calc = raw["calc_time"]
    if times and pc.max(calc).as_py() >= MICROSECOND_THRESHOLD:
        calc = pc.divide(calc, US_PER_MS)
    # Nearest hour: Binance stamps settlements a few ms late (and possibly early).
    hour = pc.multiply(pc.divide(pc.add(calc, HOUR_MS // 2), HOUR_MS), HOUR_MS)
    return pa.table({
        "funding_time": times["calc_time"],
        "settlement_time": to_timestamp(hour, "ms"),
        "funding_interval_hours": raw["funding_interval_hours"].cast(pa.int32()),
        "funding_rate": raw["last_funding_rate"],
    }, schema=spec.schema)


def _metrics_table(raw: pa.Table, spec: KindSpec, name: str, period: str, symbol: str) -> pa.Table:
    symbols = pc.unique(raw["symbol"]).to_pylist()
    if symbols and symbols != [symbol]:
        raise ArchiveFormatError(f"{name}: holds symbol(s) {symbols}, expected only {symbol}")
    try:
        created = pc.assume_timezone(
            pc.strptime(raw["create_time"], format="%Y-%m-%d %H:%M:%S", unit="us"), timezone="UTC"
        )
    except pa.ArrowInvalid as exc:
        raise ArchiveFormatError(f"{name}: create_time is not 'YYYY-MM-DD HH:MM:SS' ({exc})") from exc
    check_in_period(created, period, name, "create_time")
    convention = metrics_label_convention(created, period)
    offset = pa.scalar(FIVE_MINUTES if convention == "start" else timedelta(0), pa.duration("us"))
    return pa.table({
        "create_time": created,
        "period_end": pc.add(created, offset),
        "label_convention": pa.array([convention] * raw.num_rows, pa.string()),
        **{column: raw[column] for column in spec.schema.names[3:]},
    }, schema=spec.schema)


LABEL_FLIP_DAY = date(2026, 6, 25)
"""UM metrics switched from end-of-period to start-of-period labels on this day (BPD#491)."""


def metrics_label_convention(created: pa.ChunkedArray, period: str) -> str:
    """`end` when a day's file runs 00:05..24:00, `start` when it runs 00:00..23:55.
    Decided from the file itself; a file too partial to tell falls back to the known flip date."""
    start, end = period_bounds(period)
    if len(created) and len(period) == 10:
        if pc.max(created).as_py() >= end:
            return "end"
        if pc.min(created).as_py() == start:
            return "start"
    return "start" if start.date() >= LABEL_FLIP_DAY else "end"


def parse_archive(zip_bytes: bytes, *, kind: str, period: str, symbol: str, name: str) -> ParsedArchive:
    """Verified zip bytes -> lake table (sorted on the natural key, duplicates dropped)."""
    spec = KINDS[kind]
    raw, had_header = read_csv(extract_single_csv(zip_bytes, name), spec, name)
    times, unit = _epochs(raw, spec, name, period)
    if spec.schema.names[0] == "open_time":
        table = _kline_table(raw, times, spec)
    elif kind == "fundingRate":
        table = _funding_table(raw, times, spec)
    elif kind == "metrics":
        table = _metrics_table(raw, spec, name, period, symbol)
    else:
        table = pa.table(
            {column: times.get(column, raw[column]) for column in spec.schema.names}, schema=spec.schema
        )
    deduplicated, dropped = drop_duplicates(table, spec.key)
    return ParsedArchive(deduplicated, raw.num_rows, dropped, unit, had_header)
