"""Session fixtures shared by several test packages."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def demo_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The data root of the shared demo warehouse (tests/demo_warehouse.py)."""
    from tests.demo_warehouse import build_demo_warehouse

    yield build_demo_warehouse(tmp_path_factory.mktemp("demo_warehouse"))


@pytest.fixture(scope="session")
def planted_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The data root of the planted warehouse (tests/demo_warehouse.py); its archive, with
    ground_truth/occurrences.parquet, is the sibling folder `archive`."""
    from tests.demo_warehouse import build_planted_warehouse

    yield build_planted_warehouse(tmp_path_factory.mktemp("planted_warehouse"))
