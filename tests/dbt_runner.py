"""The one way tests run dbt: a subprocess (no dbt global state leaks between runs) against a
throw-away data root, with dbt's target/ and logs/ under that root, never the repo's.

dbt unit tests (fixed given/expect rows, independent of the lake) are left out of every build
unless a caller asks for them: they prove the SQL once per suite (the empty-lake build in
tests/warehouse runs and checks all of them), and repeating them in each of the suite's ~20
warehouse builds cost 16 s a build (planted demo build's run_results). Data tests always run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

REPO = Path(__file__).resolve().parents[1]
T = TypeVar("T")


@dataclass(frozen=True)
class DbtRun:
    """Outcome of one dbt command: exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def dbt_executable() -> str:
    """The dbt CLI of the interpreter running the tests (the project venv)."""
    candidate = Path(sys.executable).with_name("dbt")
    found = str(candidate) if candidate.exists() else shutil.which("dbt")
    if not found:
        pytest.fail("dbt is not installed next to the test interpreter: run `make setup`")
    return found


def run_dbt(args: Sequence[str], data_root: Path, spec_dir: Path | None = None, *, unit_tests: bool = False,
            timeout: float = 900) -> DbtRun:
    """`dbt <args>` with BACKTEST_DATA_ROOT=data_root and, when given, BACKTEST_SPEC_DIR=spec_dir."""
    env = {**os.environ, "BACKTEST_DATA_ROOT": str(data_root), "DBT_PROFILES_DIR": str(REPO),
           "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    env.pop("BACKTEST_SPEC_DIR", None)
    env.pop("DBT_EXCLUDE_RESOURCE_TYPES", None)
    if spec_dir is not None:
        env["BACKTEST_SPEC_DIR"] = str(spec_dir)
    if not unit_tests:
        env["DBT_EXCLUDE_RESOURCE_TYPES"] = "unit_test"  # a command's own --exclude-resource-type wins
    command = [dbt_executable(), *args, "--project-dir", str(REPO), "--profiles-dir", str(REPO),
               "--target-path", str(data_root / "target"), "--log-path", str(data_root / "logs")]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    return DbtRun(done.returncode, done.stdout, done.stderr)


def run_concurrently(*builds: Callable[[], T]) -> list[T]:
    """Run independent warehouse builds side by side and return their results in order. A dbt
    build spends much of its time in single-threaded Python (compiling, per-node bookkeeping), so
    two or three builds on different data roots overlap well on two cores."""
    with ThreadPoolExecutor(max_workers=len(builds)) as pool:
        futures = [pool.submit(build) for build in builds]
        return [future.result() for future in futures]
