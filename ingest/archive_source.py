"""Where archives come from: data.binance.vision over HTTP, or a local folder laid out like it.

Both answer `get(path) -> bytes | None`, where None means "not published" (HTTP 404 or no such
file). Transient HTTP failures (timeouts, 5xx, 429) are retried with exponential backoff, honouring
`Retry-After`; anything else is a `SourceError` that names the URL.
"""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

DEFAULT_SOURCE = "https://data.binance.vision"
USER_AGENT = "binance-event-warehouse-ingest/0.1"


class SourceError(RuntimeError):
    """A source failed in a way retries cannot fix (or retries ran out)."""


class SourceUnreachable(SourceError):
    """The source cannot be contacted at all (DNS, refused connection, missing folder)."""


class ArchiveSource(Protocol):
    def url(self, path: str) -> str: ...

    def get(self, path: str) -> bytes | None: ...

    def check_reachable(self) -> None: ...


@dataclass
class LocalFolderSource:
    """A folder holding `data/<market>/<period>/<kind>/...` (the `data/` level may be omitted)."""

    folder: Path

    def _resolve(self, path: str) -> Path:
        base = Path(self.folder)
        if not (base / "data").is_dir() and path.startswith("data/"):
            return base / path[len("data/"):]
        return base / path

    def url(self, path: str) -> str:
        return str(self._resolve(path))

    def get(self, path: str) -> bytes | None:
        target = self._resolve(path)
        try:
            return target.read_bytes()
        except FileNotFoundError:
            return None

    def check_reachable(self) -> None:
        if not Path(self.folder).is_dir():
            raise SourceUnreachable(f"source folder {self.folder} does not exist")


@dataclass
class HttpSource:
    """data.binance.vision (or a mirror) over HTTP with bounded retries."""

    base_url: str = DEFAULT_SOURCE
    retries: int = 5
    backoff_seconds: float = 0.5
    max_wait_seconds: float = 60.0
    timeout_seconds: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def url(self, path: str) -> str:
        return f"{self.base_url.rstrip('/')}/{path.lstrip('/')}"

    def check_reachable(self) -> None:
        """Fail fast, before anything is written, when the host cannot be contacted."""
        request = urllib.request.Request(self.base_url, method="HEAD", headers={"User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds):
                return
        except urllib.error.HTTPError:
            return  # the host answered; individual files decide the rest
        except (urllib.error.URLError, socket.timeout, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise SourceUnreachable(f"cannot reach {self.base_url}: {reason}") from exc

    def get(self, path: str) -> bytes | None:
        url = self.url(path)
        attempt = 0
        while True:
            attempt += 1
            wait = min(self.max_wait_seconds, self.backoff_seconds * 2 ** (attempt - 1))
            try:
                request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
                with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                    return response.read()
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return None
                if exc.code != 429 and exc.code < 500 and exc.code != 408:
                    raise SourceError(f"{url}: HTTP {exc.code} {exc.reason}") from exc
                retry_after = _retry_after_seconds(exc.headers.get("Retry-After"))
                if retry_after is not None:
                    wait = min(self.max_wait_seconds, retry_after)
                failure = f"HTTP {exc.code}"
            except (urllib.error.URLError, socket.timeout, ConnectionError, TimeoutError) as exc:
                failure = str(getattr(exc, "reason", exc))
            if attempt > self.retries:
                raise SourceError(f"{url}: gave up after {attempt} attempts ({failure})")
            self.sleep(wait)


def _retry_after_seconds(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def open_source(source: str) -> ArchiveSource:
    """A URL gives an HttpSource; anything else is a local folder."""
    if source.startswith(("http://", "https://")):
        return HttpSource(base_url=source)
    return LocalFolderSource(Path(source))
