"""The archive looks like data.binance.vision: paths, names, zips, checksums, headers, timestamp
units, and the planted defects (maintenance gaps, duplicates, a monthly file missing a day, ...)."""

from __future__ import annotations

import hashlib
import re
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from demo_market_io import BAR_MS, Archive, has_header, load_kind, read_csv, zip_text

from ingest.kinds import KINDS, KLINE_CSV, archive_path

PATH_RE = re.compile(
    r"^data/(?P<seg>spot|futures/um)/(?P<ptype>monthly|daily)/(?P<kind>\w+)/(?P<sym>[A-Z0-9]+)/"
    r"(?:(?P<interval>5m)/)?(?P=sym)-(?:5m|(?P=kind))-(?P<period>\d{4}-\d{2}(?:-\d{2})?)\.zip$")
MARKET_OF = {"spot": "spot", "futures/um": "um"}


def _zips(arc: Archive) -> list[Path]:
    return sorted(arc.data.rglob("*.zip"))


def _parse(arc: Archive, path: Path) -> dict[str, str]:
    rel = path.relative_to(arc.root).as_posix()
    m = PATH_RE.match(rel)
    assert m, rel
    return {**m.groupdict(), "market": MARKET_OF[m["seg"]], "rel": rel}


@pytest.fixture(scope="module")
def files(archive: Archive) -> list[dict[str, str]]:
    return [_parse(archive, p) for p in _zips(archive)]


def test_every_path_is_the_contracts_archive_path(archive: Archive, files: list[dict[str, str]]) -> None:
    assert len(files) > 500
    for f in files:
        assert f["kind"] in KINDS and f["market"] in KINDS[f["kind"]].markets, f["rel"]
        assert archive_path(f["market"], f["kind"], f["sym"], f["period"], f["interval"]) == f["rel"]
        assert (f["ptype"] == "monthly") == (len(f["period"]) == 7)
        assert f["ptype"] in KINDS[f["kind"]].periods, f["rel"]


def test_only_zips_and_checksums_and_every_checksum_verifies(archive: Archive) -> None:
    everything = [p for p in archive.data.rglob("*") if p.is_file()]
    zips = {p for p in everything if p.name.endswith(".zip")}
    sums = {p for p in everything if p.name.endswith(".zip.CHECKSUM")}
    assert zips and len(zips) + len(sums) == len(everything)
    assert {Path(str(p)[: -len(".CHECKSUM")]) for p in sums} == zips
    for z in zips:
        text = z.with_name(z.name + ".CHECKSUM").read_text(encoding="ascii")
        assert re.fullmatch(r"[0-9a-f]{64}  " + re.escape(z.name) + r"\n", text), z
        assert text.split()[0] == hashlib.sha256(z.read_bytes()).hexdigest(), z


def test_each_zip_holds_one_root_csv_named_like_the_zip(archive: Archive) -> None:
    for z in _zips(archive):
        with zipfile.ZipFile(z) as zf:
            infos = zf.infolist()
            assert [i.filename for i in infos] == [z.name[:-4] + ".csv"], z
            assert infos[0].date_time == (1980, 1, 1, 0, 0, 0) and infos[0].compress_type == zipfile.ZIP_DEFLATED
        payload = zip_text(z)[1]
        assert payload.endswith(b"\n") and b"\r" not in payload and b'"' not in payload


def test_expected_archives_exist_per_symbol_and_period(archive: Archive, files: list[dict[str, str]]) -> None:
    have = {(f["market"], f["kind"], f["sym"], f["period"]) for f in files}
    months = ["2024-11", "2024-12", "2025-01", "2025-02"]
    for sym in archive.symbols:
        for m in months:
            for kind in ("klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines", "fundingRate"):
                assert ("um", kind, sym, m) in have, (sym, kind, m)
            assert ("spot", "klines", sym, m) in have
        # The window ends 2025-03-15: March is still open, so only daily files (and no funding yet).
        for day in range(1, 15):
            period = f"2025-03-{day:02d}"
            assert ("um", "klines", sym, period) in have and ("spot", "klines", sym, period) in have
            assert ("um", "metrics", sym, period) in have
        assert ("um", "klines", sym, "2025-03") not in have
        assert ("um", "fundingRate", sym, "2025-03") not in have
        days = {f["period"] for f in files if f["sym"] == sym and f["kind"] == "metrics"}
        assert len(days) == 120 and min(days) == "2024-11-15" and max(days) == "2025-03-14"
    assert not any(f["kind"] == "fundingRate" and f["ptype"] == "daily" for f in files)
    assert not any(f["kind"] == "metrics" and f["ptype"] == "monthly" for f in files)


def test_headers_follow_binance_habits(archive: Archive, files: list[dict[str, str]]) -> None:
    headerless = set(archive.config["defects"]["headerless_um_months"])
    assert headerless == {"2024-11"}
    for f in files:
        payload = zip_text(archive.root / f["rel"])[1]
        first = payload.split(b"\n", 1)[0].decode()
        kind = f["kind"]
        if f["market"] == "spot":
            assert not has_header(payload), f["rel"]
        elif kind in ("klines", "markPriceKlines", "indexPriceKlines", "premiumIndexKlines"):
            if f["period"][:7] in headerless:
                assert not has_header(payload), f["rel"]
            else:
                assert first == ",".join(KLINE_CSV), f["rel"]
        else:
            assert first == ",".join(KINDS[kind].csv_columns), f["rel"]


def test_spot_switches_to_microseconds_on_2025_01_01(archive: Archive, files: list[dict[str, str]]) -> None:
    seen = set()
    for f in files:
        if f["kind"] != "klines":
            continue
        t = read_csv(archive.root / f["rel"], "klines")
        open_t, close_t = t["open_time"].to_numpy(), t["close_time"].to_numpy()
        micros = f["market"] == "spot" and f["period"] >= "2025-01"
        unit = 1000 if micros else 1
        digits = 16 if micros else 13
        assert {len(str(v)) for v in open_t.tolist()} == {digits}, f["rel"]
        assert np.all(close_t == open_t + BAR_MS * unit - 1), f["rel"]
        seen.add((f["market"], micros))
    assert seen == {("um", False), ("spot", False), ("spot", True)}


def test_a_monthly_archive_lacks_a_day_its_daily_archive_has(archive: Archive) -> None:
    missing = archive.config["defects"]["monthly_missing_days"]
    assert len(missing) >= 1
    for m in missing:
        seg = "futures/um" if m["market"] == "um" else "spot"
        base = archive.data / seg
        monthly = base / f"monthly/klines/{m['symbol']}/5m/{m['symbol']}-5m-{m['day'][:7]}.zip"
        daily = base / f"daily/klines/{m['symbol']}/5m/{m['symbol']}-5m-{m['day']}.zip"
        day_start = int(np.datetime64(m["day"], "ms").astype(np.int64))
        mt = read_csv(monthly, "klines")["open_time"].to_numpy()
        dt = read_csv(daily, "klines")["open_time"].to_numpy()
        scale = 1000 if mt.max() >= 10**15 else 1
        in_day = (mt >= day_start * scale) & (mt < (day_start + 86_400_000) * scale)
        assert not in_day.any(), m
        assert dt.size >= 250 and np.all((dt >= day_start * scale) & (dt < (day_start + 86_400_000) * scale)), m


def test_maintenance_windows_have_no_rows_anywhere(archive: Archive) -> None:
    windows = archive.config["defects"]["maintenance_windows_ms"]
    assert 1 <= len(windows) <= 3
    for sym in archive.symbols[:2]:
        for seg, kind in (("futures/um", "klines"), ("spot", "klines"), ("futures/um", "markPriceKlines")):
            for z in sorted((archive.data / seg).glob(f"*/{kind}/{sym}/5m/*.zip")):
                t = read_csv(z, "klines")["open_time"].to_numpy()
                t = np.where(t >= 10**15, t // 1000, t)
                for a, b in windows:
                    assert not np.any((t >= a) & (t < b)), (z, a, b)
        metrics = load_kind(archive, "metrics", sym, {"create_time": pa.timestamp("s")})
        labels = metrics["create_time"].cast(pa.int64()).to_numpy() * 1000 - BAR_MS
        for a, b in windows:
            assert not np.any((labels >= a) & (labels < b))
    hours = [(b - a) / 3_600_000 for a, b in windows]
    assert all(1 <= h <= 3.05 for h in hours)


def test_some_files_carry_duplicated_rows(archive: Archive) -> None:
    dups = archive.config["defects"]["duplicated_rows"]
    listed = [(sym, d) for sym, entries in dups.items() for d in entries]
    assert any(d["kind"] == "klines" for _, d in listed) and any(d["kind"] == "metrics" for _, d in listed)
    for sym, d in listed:
        if d["kind"] == "metrics":
            z = archive.data / f"futures/um/daily/metrics/{sym}/{sym}-metrics-{d['period']}.zip"
            labels = read_csv(z, "metrics", {"create_time": pa.timestamp("s")})["create_time"].to_pylist()
        else:
            seg = "futures/um" if d["market"] == "um" else "spot"
            z = archive.data / f"{seg}/monthly/{d['kind']}/{sym}/5m/{sym}-5m-{d['period']}.zip"
            labels = read_csv(z, "klines")["open_time"].to_pylist()
        assert len(labels) - len(set(labels)) == d["rows"], (sym, d)


def test_metrics_are_daily_text_stamped_end_of_period_and_sometimes_unsorted(archive: Archive) -> None:
    unsorted = 0
    files = sorted(archive.data.glob("futures/um/daily/metrics/*/*.zip"))
    for z in files:
        payload = zip_text(z)[1].decode()
        lines = payload.splitlines()[1:]
        stamps = [line.split(",", 1)[0] for line in lines]
        assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", s) for s in stamps[:5])
        day = np.datetime64(z.name[-14:-4])
        assert min(stamps) >= f"{day} 00:05:00" and max(stamps) <= f"{day + 1} 00:00:00", z
        unsorted += stamps != sorted(stamps)
    assert 0.05 * len(files) <= unsorted <= 0.3 * len(files)
    sample = [z for z in files if "2024-12-02" in z.name][0]
    stamps = sorted(line.split(",", 1)[0] for line in zip_text(sample)[1].decode().splitlines()[1:])
    assert stamps[0] == "2024-12-02 00:05:00" and stamps[-1] == "2024-12-03 00:00:00"


def test_liquidation_snapshots_only_on_cascade_days_and_every_row_twice(archive: Archive) -> None:
    files = sorted(archive.data.glob("futures/um/daily/liquidationSnapshot/*/*.zip"))
    assert files
    for z in files:
        lines = zip_text(z)[1].decode().splitlines()[1:]
        counts: dict[str, int] = {}
        for line in lines:
            counts[line] = counts.get(line, 0) + 1
        assert set(counts.values()) == {2}, z
    for sym in archive.symbols:
        days = {z.name[-14:-4] for z in files if z.parent.name == sym}
        cascades = archive.config["symbol_parameters"][sym]["cascades"]
        assert 0 < len(days) <= cascades


def test_book_ticker_on_a_few_days_with_sane_quotes(archive: Archive) -> None:
    days = set(archive.config["defects"]["book_ticker_days"])
    files = sorted(archive.data.glob("futures/um/daily/bookTicker/*/*.zip"))
    assert files and {z.name[-14:-4] for z in files} == days
    assert len(days) < 10
    interleaved = 0
    for z in files:
        t = read_csv(z, "bookTicker")
        assert np.all(t["best_bid_price"].to_numpy() < t["best_ask_price"].to_numpy())
        tx = t["transaction_time"].to_numpy()
        assert np.all(t["event_time"].to_numpy() >= tx)
        interleaved += bool(np.any(np.diff(tx) < 0))
    assert interleaved >= 1


def test_ground_truth_is_written_next_to_the_archive(archive: Archive) -> None:
    truth = archive.root / "ground_truth"
    assert sorted(p.name for p in truth.iterdir()) == ["config.json", "effects.yaml", "occurrences.parquet"]
    occ = archive.occurrences
    assert occ.column_names == ["effect", "role", "symbol", "ts", "known_at", "state", "in_state", "horizon_bars",
                                "drift_bps", "window_drift_bps"]
    assert set(occ["role"].to_pylist()) <= {"planted", "out_of_state", "suppressed", "null"}
    assert set(occ["symbol"].to_pylist()) <= set(archive.symbols)
    cfg = archive.config
    assert cfg["symbols"][0] == cfg["leader"] == "BTCUSDT"
    assert cfg["demo_config"] == {"symbols": 6, "start": "2024-11-15", "months": 4, "seed": 7, "effects": "default"}
    for sym, p in cfg["symbol_parameters"].items():
        lo, hi = p["leader_corr_range"]
        assert lo <= p["leader_corr_target"] <= hi and p["beta"] > 0
