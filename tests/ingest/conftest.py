"""Fixtures for the ingester: a local HTTP server in Binance's archive layout with injectable
faults, archive builders, and a lake fingerprint to compare runs byte for byte."""

from __future__ import annotations

import hashlib
import io
import threading
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA = REPO.parent / "shared" / "data"


def require_shared_data() -> Path:
    if not (SHARED_DATA / "binance-vision").is_dir():
        pytest.skip(f"{SHARED_DATA} is absent: the real Binance files are only on the team's machines")
    return SHARED_DATA


def make_zip(members: dict[str, bytes]) -> bytes:
    """A deterministic zip holding the given members."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, payload in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, payload)
    return buffer.getvalue()


def checksum_for(name: str, payload: bytes) -> bytes:
    return f"{hashlib.sha256(payload).hexdigest()}  {name}\n".encode()


@dataclass
class Reply:
    """One scripted answer: a status, optional headers, and a body (None: the stored file)."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    delay: float = 0.0


class ArchiveServer:
    """Serves `files` (URL path without leading slash -> bytes) on 127.0.0.1. `script[path]` is a
    queue of replies played before the stored file is served; every request is logged."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.script: dict[str, list[Reply]] = defaultdict(list)
        self.requests: list[str] = []
        self.delay = 0.0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                return

            def _answer(self, with_body: bool) -> None:
                import time

                path = self.path.lstrip("/")
                with server._lock:
                    server.requests.append(f"{self.command} {path}")
                    reply = server.script[path].pop(0) if server.script.get(path) else None
                    stored = server.files.get(path)
                if server.delay:
                    time.sleep(server.delay)
                if reply is None:
                    reply = Reply(200) if stored is not None or path == "" else Reply(404, body=b"Not Found")
                if reply.delay:
                    time.sleep(reply.delay)
                body = reply.body if reply.body is not None else (stored or b"")
                self.send_response(reply.status)
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if with_body:
                    self.wfile.write(body)

            def do_GET(self) -> None:
                self._answer(True)

            def do_HEAD(self) -> None:
                self._answer(False)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
        self._thread.start()

    def publish(self, path: str, payload: bytes, *, checksum: bool = True) -> None:
        """Put a zip (and its `.CHECKSUM`) at an archive path like `data/spot/monthly/...zip`."""
        self.files[path] = payload
        if checksum:
            self.files[path + ".CHECKSUM"] = checksum_for(path.rsplit("/", 1)[-1], payload)
        else:
            self.files.pop(path + ".CHECKSUM", None)

    def zip_requests(self) -> list[str]:
        return [r for r in self.requests if r.endswith(".zip")]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def archive_server() -> Iterator[ArchiveServer]:
    server = ArchiveServer()
    yield server
    server.close()


def lake_fingerprint(data_root: Path) -> dict[str, str]:
    """sha256 of every file under the lake (lock file excluded: it only names the last holder)."""
    lake = data_root / "lake"
    return {
        str(path.relative_to(lake)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(lake.rglob("*")) if path.is_file() and path.name != ".ingest.lock"
    }


def kline_csv(start_ms: int, rows: int, *, step_ms: int = 300_000, header: bool = False,
              unit_scale: int = 1, price: float = 100.0) -> bytes:
    """A well-formed 12-column kline CSV (generated fixture, not real data)."""
    lines = []
    if header:
        lines.append("open_time,open,high,low,close,volume,close_time,quote_volume,count,"
                     "taker_buy_volume,taker_buy_quote_volume,ignore")
    for i in range(rows):
        open_time = (start_ms + i * step_ms) * unit_scale
        close_time = open_time + step_ms * unit_scale - 1
        p = price + i * 0.01
        lines.append(f"{open_time},{p},{p + 1},{p - 1},{p + 0.5},10.0,{close_time},{10 * p},42,5.0,{5 * p},0")
    return ("\n".join(lines) + "\n").encode()
