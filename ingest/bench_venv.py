"""Throwaway virtual environments for benchmark baselines (pandas, vectorbt).

The baselines a benchmark compares against are not dependencies of the project: each is installed
on first use into its own venv under `$BACKTEST_DATA_ROOT/bench/`, kept between runs, and run in a
subprocess of that venv. When a package cannot be had (no network, a build error) the caller gets
the reason and reports the baseline as skipped instead of failing the benchmark.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def bench_venv_python(venv: Path, package: str, install_timeout_s: float) -> tuple[Path | None, str]:
    """The interpreter of the venv at `venv` with `package` importable, installing it on first use;
    (None, reason) when it cannot be had. 'cached' or 'installed' says which it was."""
    python = venv / "bin" / "python"
    probe = [str(python), "-c", f"import {package}"]
    if python.exists() and subprocess.run(probe, capture_output=True, text=True).returncode == 0:
        return python, "cached"
    shutil.rmtree(venv, ignore_errors=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    steps = ([sys.executable, "-m", "venv", str(venv)],
             [str(python), "-m", "pip", "install", "--quiet", "--timeout", "30", "--retries", "1", package])
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=install_timeout_s)
        except (subprocess.TimeoutExpired, OSError) as error:
            return None, f"`{' '.join(step[-3:])}`: {type(error).__name__}"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()
            return None, f"`{' '.join(step[-3:])}` failed: {tail[-1] if tail else done.returncode}"
    if subprocess.run(probe, capture_output=True, text=True).returncode != 0:
        return None, f"{package} installed but does not import"
    return python, "installed"


PEAK_RSS_SOURCE = (Path(__file__).with_name("peak_memory.py")).read_text(encoding="utf-8")
"""Source of peak_rss_mb() (ingest/peak_memory.py, standard library only) for the scripts run by a
bench venv, which cannot import this project: prepended to them."""
