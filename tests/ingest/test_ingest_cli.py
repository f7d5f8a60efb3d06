"""The `backtest ingest` command as a user meets it: bad input, unreachable sources, a second
writer, and a run killed at any point then started again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ingest.cli import main
from tests.ingest.conftest import ArchiveServer, kline_csv, lake_fingerprint, make_zip

JAN_MS = 1_704_067_200_000
GOOD = ["ingest", "--market", "um", "--kind", "klines", "--interval", "5m", "--symbols", "BTCUSDT",
        "--start", "2024-01-01", "--end", "2024-01-31", "--quiet"]


def run_cli(args: list[str], root: Path, source: str) -> int:
    return main([*args, "--data-root", str(root), "--source", source])


@pytest.mark.parametrize("change, message", [
    ({"--kind": "klinez"}, "unknown kind 'klinez'"),
    ({"--market": "cm"}, "unknown market 'cm'"),
    ({"--interval": "7m"}, "unknown interval '7m'"),
    ({"--symbols": "../../etc"}, "symbol '../../etc' is not [A-Z0-9]+"),
    ({"--symbols": "btcusdt"}, "symbol 'btcusdt' is not [A-Z0-9]+"),
    ({"--start": "2024-02-01"}, "start 2024-02-01 is after end 2024-01-31"),
    ({"--kind": "fundingRate", "--market": "spot"}, "not published for market 'spot'"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            change: dict[str, str], message: str) -> None:
    args = list(GOOD)
    for flag, value in change.items():
        args[args.index(flag) + 1] = value
    root = tmp_path / "root"
    assert run_cli(args, root, str(tmp_path)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert not root.exists()


def test_unreachable_source_exits_2_and_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    root = tmp_path / "root"
    assert run_cli(GOOD, root, f"http://127.0.0.1:{port}") == 2
    err = capsys.readouterr().err
    assert f"cannot reach http://127.0.0.1:{port}" in err
    assert not root.exists()
    assert run_cli(GOOD, root, str(tmp_path / "no-such-folder")) == 2
    assert "does not exist" in capsys.readouterr().err and not root.exists()


def test_second_writer_gets_in_use_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ingest.ingest_run import lake_lock

    with lake_lock(tmp_path):
        assert run_cli(GOOD, tmp_path, str(tmp_path)) == 2
    assert "is in use by ingest pid" in capsys.readouterr().err


def publish_month(server: ArchiveServer, symbol: str) -> None:
    for day in range(1, 32):
        path = f"data/futures/um/daily/klines/{symbol}/5m/{symbol}-5m-2024-01-{day:02d}.zip"
        csv = kline_csv(JAN_MS + (day - 1) * 86_400_000, 288, price=100.0 + day)
        server.publish(path, make_zip({path.rsplit("/", 1)[-1].replace(".zip", ".csv"): csv}))


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_lake(archive_server: ArchiveServer, tmp_path: Path) -> None:
    """SIGKILL the ingester at several points; each restart must finish with the lake a clean run makes."""
    symbols = "BTCUSDT,ETHUSDT"
    for symbol in symbols.split(","):
        publish_month(archive_server, symbol)
    args = [a if a != "BTCUSDT" else symbols for a in GOOD]
    args[args.index("--end") + 1] = "2024-01-30"  # daily archives only: many small files
    clean = tmp_path / "clean"
    assert run_cli(args, clean, archive_server.url) == 0
    expected = lake_fingerprint(clean)
    strip = lambda fp: {k: v for k, v in fp.items() if k.startswith("raw/")}  # noqa: E731
    archive_server.delay = 0.03
    interrupted = 0
    command = [sys.executable, "-m", "ingest.cli", *args, "--source", archive_server.url]
    for kill_after in (0.3, 0.8, 1.5):
        root = tmp_path / f"killed-{kill_after}"
        process = subprocess.Popen([*command, "--data-root", str(root)], cwd=Path(__file__).resolve().parents[2],
                                   env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
        time.sleep(kill_after)
        process.send_signal(signal.SIGKILL)
        process.wait()
        partial = strip(lake_fingerprint(root)) if (root / "lake").exists() else {}
        interrupted += process.returncode == -signal.SIGKILL and partial != strip(expected)
        assert run_cli(args, root, archive_server.url) == 0
        resumed = lake_fingerprint(root)
        assert strip(resumed) == strip(expected)
        assert set(resumed) == set(expected)
        assert not list(root.rglob("*.tmp"))
    assert interrupted >= 2, "the kills came too late to interrupt the runs; the test proved nothing"
