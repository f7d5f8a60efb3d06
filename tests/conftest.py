"""Session fixtures shared by several test packages."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_warehouses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Both shared demo warehouses (tests/demo_warehouse.py), built side by side the first time
    either is asked for: the suite uses both, and much of a dbt build is single-threaded Python, so
    two builds overlap on two cores."""
    from tests.dbt_runner import run_concurrently
    from tests.demo_warehouse import build_demo_warehouse, build_planted_warehouse

    # The folders are made here, not in the threads: pytest's TempPathFactory is not thread-safe. This
    # fixture is the first of the suite (tests/alpha) to ask for a temp folder, and two threads each
    # creating the session's base folder made one fail with "planted_warehouse is not a normalized
    # and relative path" in CI (every test on the two warehouses then errored).
    demo_root, planted_root = tmp_path_factory.mktemp("demo_warehouse"), tmp_path_factory.mktemp("planted_warehouse")
    demo, planted = run_concurrently(lambda: build_demo_warehouse(demo_root),
                                     lambda: build_planted_warehouse(planted_root))
    return {"demo": demo, "planted": planted}


@pytest.fixture(scope="session")
def demo_warehouse(demo_warehouses: dict[str, Path]) -> Path:
    """The data root of the shared demo warehouse (tests/demo_warehouse.py)."""
    return demo_warehouses["demo"]


@pytest.fixture(scope="session")
def planted_warehouse(demo_warehouses: dict[str, Path]) -> Path:
    """The data root of the planted warehouse (tests/demo_warehouse.py); its archive, with
    ground_truth/occurrences.parquet, is the sibling folder `archive`."""
    return demo_warehouses["planted"]
