"""A dependency-free progress line for long work: redrawn in place on a terminal, printed every
few seconds when the output is a log (CI), and always once at the end."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO


def human_bytes(count: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if count < 1024 or unit == "GB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} GB"


class Progress:
    """Counts files, bytes and rows; thread-safe so download workers can report directly."""

    def __init__(self, label: str, total_files: int, stream: TextIO | None = None,
                 log_every_seconds: float = 5.0, enabled: bool = True) -> None:
        self.label = label
        self.total_files = total_files
        self.files = self.bytes = self.rows = 0
        self.notes: dict[str, int] = {}
        self._stream = stream or sys.stderr
        self._tty = self._stream.isatty()
        self._every = log_every_seconds
        self._last = 0.0
        self._enabled = enabled
        self._lock = threading.Lock()
        self._started = time.perf_counter()

    def add_files(self, count: int) -> None:
        with self._lock:
            self.total_files += count

    def advance(self, *, files: int = 1, nbytes: int = 0, rows: int = 0, note: str | None = None) -> None:
        with self._lock:
            self.files += files
            self.bytes += nbytes
            self.rows += rows
            if note:
                self.notes[note] = self.notes.get(note, 0) + 1
            self._draw(final=False)

    def line(self) -> str:
        elapsed = time.perf_counter() - self._started
        extra = "".join(f" | {count} {note}" for note, count in sorted(self.notes.items()))
        return (f"[{self.label}] files {self.files}/{self.total_files} | {human_bytes(self.bytes)} | "
                f"{self.rows:,} rows{extra} | {elapsed:.1f}s")

    def _draw(self, final: bool) -> None:
        if not self._enabled:
            return
        now = time.perf_counter()
        if self._tty:
            if final or now - self._last > 0.1:
                self._stream.write("\r" + self.line() + ("\n" if final else ""))
                self._stream.flush()
                self._last = now
        elif final or now - self._last >= self._every:
            self._stream.write(self.line() + "\n")
            self._stream.flush()
            self._last = now

    def finish(self) -> None:
        with self._lock:
            self._draw(final=True)
