"""`make bench`: throughput and peak memory per pipeline stage, each against a plain-Python
baseline measured in the same run. Numbers, not timed unit tests.

Each measurement runs in a fresh subprocess so its peak RSS is its own. Results are printed and
written to `$BACKTEST_DATA_ROOT/bench/latest.json`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

MONTH_START_MS = 1_704_067_200_000  # 2024-01-01


def synthetic_kline_csv(rows: int, step_ms: int, seed: int) -> bytes:
    """A month of plausible 12-column klines, formatted with numpy (fast, deterministic)."""
    rng = np.random.default_rng(seed)
    open_time = MONTH_START_MS + np.arange(rows, dtype=np.int64) * step_ms
    close = 100 * np.exp(np.cumsum(rng.normal(0, 1e-3, rows)))
    open_ = np.concatenate([[100.0], close[:-1]])
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 1e-3, rows))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 1e-3, rows))
    volume = rng.gamma(2.0, 50.0, rows)
    taker = volume * rng.uniform(0.3, 0.7, rows)
    count = rng.integers(10, 5000, rows)
    columns = [open_time, open_, high, low, close, volume, open_time + step_ms - 1, volume * close, count,
               taker, taker * close, np.zeros(rows, dtype=np.int64)]
    buffer = io.StringIO()
    fmt = ["%d", "%.8f", "%.8f", "%.8f", "%.8f", "%.5f", "%d", "%.8f", "%d", "%.5f", "%.8f", "%d"]
    np.savetxt(buffer, np.column_stack([c.astype(np.float64) if f != "%d" else c for c, f in zip(columns, fmt)]),
               fmt=fmt, delimiter=",")
    return buffer.getvalue().encode()


def write_archive(root: Path, symbol: str, interval: str, payload: bytes) -> None:
    name = f"{symbol}-{interval}-2024-01"
    folder = root / "data" / "futures" / "um" / "monthly" / "klines" / symbol / interval
    folder.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(f"{name}.csv", payload)
    (folder / f"{name}.zip").write_bytes(buffer.getvalue())
    (folder / f"{name}.zip.CHECKSUM").write_text(f"{hashlib.sha256(buffer.getvalue()).hexdigest()}  {name}.zip\n")


def _measure_ingest(source: str, interval: str, symbols: str, data_root: str) -> dict[str, float]:
    from ingest.archive_source import LocalFolderSource
    from ingest.ingest_run import Ingester
    from ingest.plan import IngestRequest

    request = IngestRequest(("um",), ("klines",), tuple(symbols.split(",")), date(2024, 1, 1),
                            date(2024, 1, 31), interval)
    started, cpu = time.perf_counter(), time.process_time()
    report = Ingester(LocalFolderSource(Path(source)), Path(data_root), jobs=1, show_progress=False).run(request)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu
    lake = Path(data_root) / "lake" / "raw"
    return {"rows": report.rows_written, "seconds": seconds, "cpu_seconds": cpu_seconds,
            "archives": report.count("ingested"),
            "lake_bytes": sum(path.stat().st_size for path in lake.rglob("*.parquet"))}


def _measure_csv_baseline(source: str, interval: str, symbols: str) -> dict[str, float]:
    """The same archives parsed with the `csv` module into typed Python rows (no writing)."""
    rows = 0
    started, cpu = time.perf_counter(), time.process_time()
    for symbol in symbols.split(","):
        name = f"{symbol}-{interval}-2024-01"
        path = Path(source) / "data/futures/um/monthly/klines" / symbol / interval / f"{name}.zip"
        payload = path.read_bytes()
        hashlib.sha256(payload).hexdigest()
        with zipfile.ZipFile(io.BytesIO(payload)) as archive:
            text = archive.read(f"{name}.csv").decode()
        parsed = [
            (int(r[0]), float(r[1]), float(r[2]), float(r[3]), float(r[4]), float(r[5]), int(r[6]),
             float(r[7]), int(r[8]), float(r[9]), float(r[10]))
            for r in csv.reader(io.StringIO(text))
        ]
        rows += len(parsed)
    return {"rows": rows, "seconds": time.perf_counter() - started, "cpu_seconds": time.process_time() - cpu}


def run_measurement(module: str, kind: str, *args: str) -> dict[str, Any]:
    """Run `ingest.<module>._measure_<kind>(*args)` in a fresh interpreter, so its peak RSS is its
    own; returns its result plus that peak (MB, its children included: peak_rss_mb)."""
    code = (
        f"import json, sys; from ingest import {module} as b; from ingest.peak_memory import peak_rss_mb; "
        f"r = b._measure_{kind}(*sys.argv[1:]); r['peak_rss_mb'] = peak_rss_mb(); print(json.dumps(r))"
    )
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=Path(__file__).resolve().parents[1],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark step {module}.{kind} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _child(kind: str, *args: str) -> dict[str, Any]:
    return run_measurement("bench", kind, *args)


def bench_ingest(workdir: Path, repeats: int = 3) -> list[dict[str, object]]:
    """Rows/s parsed, verified and written for a month of 5m and 1m klines (one core), the csv
    baseline, and peak memory for 4 vs 16 archives (flat memory means streaming).

    The machine may be shared: each case runs `repeats` times, each in a fresh process on a fresh
    lake, alternating with the baseline; the best run counts and the spread (worst/best rows/s) is
    shown. `rows_per_cpu_s` divides by the process's CPU time (all its threads), so it is per core
    whatever else the machine runs."""
    results: list[dict[str, object]] = []
    source = workdir / "archive"
    cases = {"5m": (8928, 300_000), "1m": (44_640, 60_000)}
    symbols = [f"SYM{i:02d}USDT" for i in range(16)]
    for interval, (rows, step) in cases.items():
        for i, symbol in enumerate(symbols):
            write_archive(source, symbol, interval, synthetic_kline_csv(rows, step, seed=i))
    for interval in cases:
        for count in (4, 16):
            chosen = ",".join(symbols[:count])
            ours, base = [], []
            for _ in range(repeats):
                lake = tempfile.mkdtemp(dir=workdir)
                ours.append(_child("ingest", str(source), interval, chosen, lake))
                base.append(_child("csv_baseline", str(source), interval, chosen))
            best = min(ours, key=lambda run: run["seconds"])
            best_base = min(base, key=lambda run: run["seconds"])
            rate, base_rate = best["rows"] / best["seconds"], best_base["rows"] / best_base["seconds"]
            results.append({
                "stage": "ingest", "case": f"{count} monthly archives of {interval} klines",
                "rows": best["rows"], "seconds": round(best["seconds"], 3),
                "rows_per_s": round(rate),
                "rows_per_s_worst": round(best["rows"] / max(run["seconds"] for run in ours)),
                "rows_per_cpu_s": round(best["rows"] / min(run["cpu_seconds"] for run in ours)),
                "peak_rss_mb": round(max(run["peak_rss_mb"] for run in ours), 1),
                "lake_mb": round(best["lake_bytes"] / 2**20, 2),
                "baseline": "csv module parse only (no write)",
                "baseline_rows_per_s": round(base_rate),
                "baseline_rows_per_s_worst": round(best_base["rows"] / max(run["seconds"] for run in base)),
                "speedup_vs_baseline": round(rate / base_rate, 1),
                "runs": repeats,
            })
    return results


def _measure_demo_market(out: str, symbols: str, months: str) -> dict[str, float]:
    from ingest.demo_market import DemoConfig, generate

    started = time.perf_counter()
    generate(DemoConfig(out=Path(out), symbols=int(symbols), months=int(months), seed=7))
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in Path(out).rglob("*") if p.is_file())
    return {"seconds": seconds, "bytes": size}


def bench_demo_market(workdir: Path) -> list[dict[str, object]]:
    """Generation time and archive size per symbol-month at several sizes: linear growth means the
    per-symbol-month figures stay flat."""
    results: list[dict[str, object]] = []
    for symbols, months in ((2, 2), (4, 2), (2, 4), (4, 4)):
        out = workdir / f"demo-{symbols}x{months}"
        measured = _child("demo_market", str(out), str(symbols), str(months))
        cells = symbols * months
        results.append({
            "stage": "demo-market", "case": f"{symbols} symbols x {months} months",
            "seconds": round(measured["seconds"], 2), "mb": round(measured["bytes"] / 2**20, 1),
            "seconds_per_symbol_month": round(measured["seconds"] / cells, 3),
            "mb_per_symbol_month": round(measured["bytes"] / 2**20 / cells, 2),
            "peak_rss_mb": round(measured["peak_rss_mb"], 1),
        })
    return results


def print_table(results: list[dict[str, object]]) -> None:
    for row in results:
        extras = "  ".join(f"{k}={v}" for k, v in row.items() if k not in ("stage", "case"))
        print(f"[{row['stage']}] {row['case']}: {extras}")


def main() -> int:
    data_root = Path(os.environ.get("BACKTEST_DATA_ROOT", "data"))
    out = data_root / "bench"
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        from ingest.bench_alpha import bench_alpha
        from ingest.bench_backtest import bench_backtest
        from ingest.bench_features import bench_features

        results = bench_ingest(Path(tmp)) + bench_demo_market(Path(tmp))
        print_table(results)
        print("bench: feature stage on 20 symbols x 2 years of synthetic 5m bars (a few minutes)...", flush=True)
        results += bench_features(Path(tmp))
        print("bench: backtest engine on 100 strategies x 20 symbols x 1 year of synthetic 5m bars, plain Python "
              "and pandas loops on slices, and vectorbt (a few minutes)...", flush=True)
        results += bench_backtest(Path(tmp))
        print("bench: alpha bundle on 20 symbols x 1 year of synthetic 5m bars, and a per-bar loop on a slice "
              "(a few minutes)...", flush=True)
        results += bench_alpha(Path(tmp))
    print_table(results)
    payload = {"machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
               "run_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "results": results}
    (out / "latest.json").write_text(json.dumps(payload, indent=1) + "\n")
    print(f"bench: results written to {out / 'latest.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
