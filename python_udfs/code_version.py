"""The code version stamped on blueprints: the package version and the git commit of the checkout
(`0.1.0+g1a2b3c4d5e6f`, `.dirty` when tracked files differ from it). Why: a blueprint must name the
code that produced it; read from the repository itself, so no build step has to inject it."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def package_version(repo: Path = REPO) -> str:
    """`project.version` of pyproject.toml."""
    return str(tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"])


def _git(repo: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def code_version(repo: Path = REPO) -> str:
    """Package version plus `+g<commit>` (and `.dirty`) when the checkout is a git repository."""
    version = package_version(repo)
    commit = _git(repo, "rev-parse", "--short=12", "HEAD")
    if not commit:
        return f"{version}+unknown"
    dirty = _git(repo, "status", "--porcelain", "--untracked-files=no")
    return f"{version}+g{commit}{'.dirty' if dirty else ''}"
