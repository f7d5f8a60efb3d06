"""Plain readers for the demo archive's zips (zipfile + pyarrow.csv), shared by the demo-market
tests; deliberately independent of the project's ingester."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from ingest.kinds import KINDS

BAR_MS = 300_000


@dataclass(frozen=True)
class Archive:
    root: Path
    config: dict
    occurrences: pa.Table

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def symbols(self) -> list[str]:
        return self.config["symbols"]


def zip_text(path: Path) -> tuple[str, bytes]:
    """(member name, bytes) of the single CSV in a zip."""
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert len(names) == 1, f"{path} holds {names}"
        return names[0], zf.read(names[0])


def has_header(payload: bytes) -> bool:
    return not payload[:1].isdigit()


def read_csv(path: Path, kind: str, types: dict[str, pa.DataType] | None = None) -> pa.Table:
    """A zip's CSV with columns named by position from `ingest.kinds` (header sniffed, never trusted)."""
    _, payload = zip_text(path)
    names = list(KINDS[kind].csv_columns)
    read = pacsv.ReadOptions(column_names=names, skip_rows=1 if has_header(payload) else 0)
    convert = pacsv.ConvertOptions(column_types=types or {})
    return pacsv.read_csv(io.BytesIO(payload), read_options=read, convert_options=convert)


def kline_files(arc: Archive, market: str, kind: str, symbol: str) -> list[Path]:
    seg = "futures/um" if market == "um" else "spot"
    monthly = sorted((arc.data / seg / "monthly" / kind / symbol / "5m").glob("*.zip"))
    daily = sorted((arc.data / seg / "daily" / kind / symbol / "5m").glob("*.zip"))
    return monthly + daily


@dataclass(frozen=True)
class Bars:
    """Deduplicated, time-sorted 5m bars; open_ms always in milliseconds."""

    open_ms: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    quote: np.ndarray
    count: np.ndarray
    taker: np.ndarray
    taker_quote: np.ndarray

    def index_of(self, ms: np.ndarray) -> np.ndarray:
        """Row of each open time, -1 where the bar is missing."""
        pos = np.searchsorted(self.open_ms, ms)
        pos = np.minimum(pos, self.open_ms.size - 1)
        return np.where(self.open_ms[pos] == ms, pos, -1)


def load_bars(arc: Archive, market: str, symbol: str, kind: str = "klines") -> Bars:
    tables = [read_csv(p, kind) for p in kline_files(arc, market, kind, symbol)]
    t = pa.concat_tables(tables)
    open_ms = t["open_time"].to_numpy().astype(np.int64)
    open_ms = np.where(open_ms >= 10**15, open_ms // 1000, open_ms)
    _, first = np.unique(open_ms, return_index=True)
    cols = {c: t[c].to_numpy()[first] for c in t.column_names}
    return Bars(open_ms[first], cols["open"].astype(float), cols["high"].astype(float), cols["low"].astype(float),
                cols["close"].astype(float), cols["volume"].astype(float), cols["quote_volume"].astype(float),
                cols["count"].astype(np.int64), cols["taker_buy_volume"].astype(float),
                cols["taker_buy_quote_volume"].astype(float))


def load_kind(arc: Archive, kind: str, symbol: str, types: dict[str, pa.DataType] | None = None) -> pa.Table:
    files = sorted((arc.data / "futures/um").glob(f"*/{kind}/{symbol}/*.zip"))
    if not files:
        return pa.table({c: pa.array([], pa.string()) for c in KINDS[kind].csv_columns})
    return pa.concat_tables([read_csv(p, kind, types) for p in files])


def load_metrics(arc: Archive, symbol: str) -> tuple[np.ndarray, pa.Table]:
    """(bar open ms, table) with duplicates dropped and rows sorted; labels are end-of-period."""
    t = load_kind(arc, "metrics", symbol, {"create_time": pa.timestamp("s")})
    label_ms = t["create_time"].cast(pa.int64()).to_numpy() * 1000
    _, first = np.unique(label_ms, return_index=True)
    t = t.take(pa.array(first))
    return label_ms[first] - BAR_MS, t
