"""The spec tree as SQL sees it: loaded fresh, hashed canonically, errors naming the file."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from python_udfs.duckdb_plugin import register_udfs
from python_udfs.spec_registry import SpecError, load_spec, ontology_spec_hash


def test_hash_ignores_formatting_but_not_values(tmp_path: Path) -> None:
    (tmp_path / "features").mkdir()
    (tmp_path / "global_defaults.yaml").write_text("a: 1\nb: [1, 2]\n")
    first = ontology_spec_hash(tmp_path)
    (tmp_path / "global_defaults.yaml").write_text("# a comment\nb:\n  - 1\n  - 2\na: 1\n")
    assert ontology_spec_hash(tmp_path) == first
    (tmp_path / "global_defaults.yaml").write_text("a: 2\nb: [1, 2]\n")
    assert ontology_spec_hash(tmp_path) != first


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "gates.yaml").write_text("a: [1, 2\n")
    with pytest.raises(SpecError, match="gates.yaml: not valid YAML"):
        load_spec(tmp_path)


def test_spec_json_reads_the_folder_named_by_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "global_defaults.yaml").write_text("clean: {threshold: 0.25}\n")
    monkeypatch.setenv("BACKTEST_SPEC_DIR", str(tmp_path))
    conn = register_udfs(duckdb.connect())
    [(value, digest)] = conn.execute("select spec_json('global_defaults.clean'), ontology_spec_hash()").fetchall()
    assert json.loads(value) == {"threshold": 0.25}
    assert digest == ontology_spec_hash(tmp_path)
    (tmp_path / "global_defaults.yaml").write_text("clean: {threshold: 0.5}\n")  # picked up on the next call
    assert json.loads(conn.execute("select spec_json('global_defaults.clean')").fetchone()[0]) == {"threshold": 0.5}
    with pytest.raises(duckdb.Error, match="no section 'global_defaults.nope'"):
        conn.execute("select spec_json('global_defaults.nope')").fetchall()
