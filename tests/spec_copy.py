"""A copy of the project's spec/ with one YAML file edited: how tests show that a number changed in
spec changes the build (or is refused) with no code change, without touching the real spec/."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]

Edit = Callable[[dict[str, Any]], None]


def edited_spec_copy(destination: Path, file: str, edit: Edit, *, save_as: str | None = None) -> Path:
    """Copy spec/ to `destination`, load `file` (a path inside spec/), let `edit` change it in place,
    and write it back (to `save_as` instead, when given: a new file next to the original). Keys keep
    their order, since some specs read as ordered (an event's first parameter). Returns `destination`."""
    shutil.copytree(REPO / "spec", destination)
    content = yaml.safe_load((destination / file).read_text(encoding="utf-8"))
    edit(content)
    (destination / (save_as or file)).write_text(yaml.safe_dump(content, sort_keys=False), encoding="utf-8")
    return destination
