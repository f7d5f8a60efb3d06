"""Writing the report's files so a reader never sees half of one: each is written under a temporary
name in the same folder, flushed to disk, then renamed into place (a rename within one folder is
atomic); temporary files are removed if anything fails before the renames."""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from pathlib import Path


def write_atomically(files: Mapping[Path, str]) -> None:
    """Write every `path -> text` (UTF-8); all are complete on disk before the first is renamed."""
    pending: list[tuple[Path, Path]] = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            temporary = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
            pending.append((temporary, path))
            with open(temporary, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        for temporary, path in pending:
            os.replace(temporary, path)
    finally:
        for temporary, _ in pending:
            temporary.unlink(missing_ok=True)
