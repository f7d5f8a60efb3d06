"""CSV bytes from numpy columns, without a Python loop over rows.

Numbers are written as exact decimal strings (Binance style, e.g. `61130.99000000`) by viewing
integer units as Arrow decimal128 and casting to text; pyarrow's CSV writer does the rest."""

from __future__ import annotations

import io

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

_INT64_MAX = np.iinfo(np.int64).max
_WRITE = pacsv.WriteOptions(include_header=False, quoting_style="none")


def decimal_text(units: np.ndarray, scale: int) -> pa.Array:
    """`units * 10**-scale` as text with exactly `scale` decimals (scale 0: plain integers)."""
    u = np.ascontiguousarray(units, dtype=np.int64)
    if scale == 0:
        return pa.array(u).cast(pa.string())
    words = np.empty((u.size, 2), dtype=np.int64)
    words[:, 0] = u
    words[:, 1] = np.where(u < 0, -1, 0)
    arr = pa.Array.from_buffers(pa.decimal128(38, scale), u.size, [None, pa.py_buffer(words)])
    return arr.cast(pa.string())


def rescale(units: np.ndarray, from_scale: int, to_scale: int) -> np.ndarray:
    """Integer units at one decimal scale expressed at a finer one (exact)."""
    if to_scale < from_scale:
        raise ValueError("can only add decimals")
    return np.asarray(units, dtype=np.int64) * np.int64(10 ** (to_scale - from_scale))


def float_units(values: np.ndarray, scale: int, significant: int = 15) -> tuple[np.ndarray, int]:
    """Floats as integer units at `scale` decimals, keeping at most `significant` digits (the rest
    are zeros, as float64 carries no more), with fewer decimals if an int64 would overflow."""
    peak = float(np.max(np.abs(values))) if values.size else 0.0
    while scale > 0 and peak * 10.0**scale >= _INT64_MAX / 4:
        scale -= 1
    digits = int(np.floor(np.log10(peak))) + 1 if peak > 0 else 1
    kept = min(scale, max(0, significant - digits))
    return np.rint(values * 10.0**kept).astype(np.int64) * np.int64(10 ** (scale - kept)), scale


def constant(text: str, n: int) -> pa.Array:
    return pa.array([text], pa.string()).take(pa.array(np.zeros(n, dtype=np.int64)))


def csv_bytes(names: tuple[str, ...] | list[str], columns: list[pa.Array], header: bool) -> bytes:
    """CSV with `\n` line ends and no quoting; the header line (Arrow would quote it) is written here."""
    table = pa.Table.from_arrays(columns, names=list(names))
    sink = io.BytesIO()
    if header:
        sink.write((",".join(names) + "\n").encode("ascii"))
    pacsv.write_csv(table, sink, _WRITE)
    return sink.getvalue()
