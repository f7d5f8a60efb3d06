"""Peak memory of the running process, as the benchmarks report it.

Standard library only: the bench-only venvs (pandas, vectorbt) cannot import this project, so
their scripts get this file's text prepended (ingest/bench_venv.py PEAK_RSS_SOURCE).
"""

import resource


def peak_rss_mb() -> float:
    """This process's peak RSS, and its waited-for children's (a dbt subprocess), in MB.

    The process's own peak is VmHWM, its address space's high-water mark, which starts afresh at
    exec. ru_maxrss does not: Linux carries it across exec from the process that forked, so every
    measurement started by a parent that once held 2 GB would report 2 GB (seen in `make bench`:
    every backtest row at the bench process's own peak)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            own = int(status.read().split("VmHWM:")[1].split()[0]) / 1024
    except (OSError, IndexError):
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return max(own, children)
