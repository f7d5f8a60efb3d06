"""Registers the project's scalar Python UDFs on DuckDB connections.

dbt-duckdb loads `Plugin` (profiles.yml, `plugins: - module: python_udfs.duckdb_plugin`) and calls
`configure_connection` on the connection every model runs on; tests, notebooks and the CLI call
`register_udfs(conn)` directly on any connection.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from dbt.adapters.duckdb.plugins import BasePlugin
from duckdb import sqltypes

from python_udfs.distributions import student_t_p_two_sided, student_t_sf

VectorFn = Callable[..., npt.NDArray[np.float64]]


@dataclass(frozen=True)
class ScalarUdf:
    """One numpy function exposed to SQL: NaN results become NULL, NULL inputs arrive as NaN."""

    name: str
    fn: VectorFn
    parameters: tuple[sqltypes.DuckDBPyType, ...]
    return_type: sqltypes.DuckDBPyType


UDFS: tuple[ScalarUdf, ...] = (
    ScalarUdf("student_t_sf", student_t_sf, (sqltypes.DOUBLE, sqltypes.DOUBLE), sqltypes.DOUBLE),
    ScalarUdf("student_t_p_two_sided", student_t_p_two_sided, (sqltypes.DOUBLE, sqltypes.DOUBLE),
              sqltypes.DOUBLE),
)


def _to_float_numpy(values: pa.Array | pa.ChunkedArray) -> npt.NDArray[np.float64]:
    """Arrow column -> float64 numpy array with NULL as NaN (one copy at most, no Python loop)."""
    return np.asarray(pc.fill_null(pc.cast(values, pa.float64()), np.nan).to_numpy(), dtype=np.float64)


def _arrow_udf(fn: VectorFn) -> Callable[..., pa.Array]:
    """Wrap a numpy function as a DuckDB arrow UDF: NULL in -> NaN -> NULL out."""

    def udf(*columns: pa.Array | pa.ChunkedArray) -> pa.Array:
        result = np.asarray(fn(*(_to_float_numpy(column) for column in columns)), dtype=np.float64)
        return pa.array(result, type=pa.float64(), mask=np.isnan(result))

    udf.__name__ = fn.__name__
    udf.__doc__ = fn.__doc__
    udf.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]  # DuckDB reads the arity
    return udf


def register_udfs(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """Register every UDF in `UDFS` on `conn` (replacing earlier registrations of the same name)."""
    for spec in UDFS:
        try:
            conn.remove_function(spec.name)
        except duckdb.Error:
            pass  # not registered yet on this connection
        conn.create_function(
            spec.name,
            _arrow_udf(spec.fn),
            list(spec.parameters),
            spec.return_type,
            type="arrow",
            null_handling="special",
            side_effects=False,
        )
    register_spec_functions(conn)
    return conn


def register_spec_functions(conn: duckdb.DuckDBPyConnection) -> None:
    """`spec_json(section)`, `ontology_spec_hash()` (the spec, read fresh on every call) and
    `code_version()` (package version and git commit, stamped on blueprints)."""
    from python_udfs.code_version import code_version
    from python_udfs.spec_registry import ontology_spec_hash, spec_json

    for name, fn, parameters in (("spec_json", spec_json, [sqltypes.VARCHAR]),
                                 ("ontology_spec_hash", lambda: ontology_spec_hash(), []),
                                 ("code_version", lambda: code_version(), [])):
        try:
            conn.remove_function(name)
        except duckdb.Error:
            pass
        conn.create_function(name, fn, parameters, sqltypes.VARCHAR, type="native", side_effects=True)
    register_feature_functions(conn)


def register_feature_functions(conn: duckdb.DuckDBPyConnection) -> None:
    """Feature stage: `feature_plan_json(block)`, `state_plan_json()`, `feature_catalog_json()`, the
    compiled feature/state plans (python_udfs/feature_compiler.py), read fresh from spec/ on every call."""
    from python_udfs.feature_compiler import feature_catalog_json, feature_plan_json, state_plan_json

    for name, fn, parameters in (("feature_plan_json", lambda block: feature_plan_json(block), [sqltypes.VARCHAR]),
                                 ("state_plan_json", lambda: state_plan_json(), []),
                                 ("feature_catalog_json", lambda: feature_catalog_json(), [])):
        try:
            conn.remove_function(name)
        except duckdb.Error:
            pass
        conn.create_function(name, fn, parameters, sqltypes.VARCHAR, type="native", side_effects=True)
    register_event_functions(conn)


def register_event_functions(conn: duckdb.DuckDBPyConnection) -> None:
    """Event stage: `event_plan_json()` (the one-pass detection and coverage SQL) and
    `event_catalog_json()` (python_udfs/event_compiler.py); the cost configuration; the backtest's
    `backtest_config_json()` and `backtest_strategies_json()`: all read fresh from spec/ on every call."""
    from python_udfs.backtest_config import backtest_config_json, backtest_strategies_json
    from python_udfs.cost_model import cost_config_digest, cost_config_json
    from python_udfs.event_compiler import event_catalog_json, event_plan_json

    for name, fn in (("event_plan_json", lambda: event_plan_json()), ("event_catalog_json", lambda: event_catalog_json()),
                     ("cost_config_json", lambda: cost_config_json()),
                     ("cost_config_digest", lambda: cost_config_digest()),
                     ("backtest_config_json", lambda: backtest_config_json()),
                     ("backtest_strategies_json", lambda: backtest_strategies_json())):
        try:
            conn.remove_function(name)
        except duckdb.Error:
            pass
        conn.create_function(name, fn, [], sqltypes.VARCHAR, type="native", side_effects=True)
    register_alpha_functions(conn)


def register_alpha_functions(conn: duckdb.DuckDBPyConnection) -> None:
    """Alpha bundle: `alpha_plan_json()` (the compiled SQL of int_alpha__signal_values) and
    `alpha_config_json()` (the validated spec/alpha), read fresh from spec/ on every call. Importing
    python_udfs.alpha_spec registers the `alpha` section's validator, so spec_json() and
    ontology_spec_hash() on this connection refuse an invalid spec/alpha too."""
    from python_udfs.alpha_compiler import alpha_plan_json
    from python_udfs.alpha_spec import alpha_config_json

    for name, fn in (("alpha_plan_json", lambda: alpha_plan_json()), ("alpha_config_json", lambda: alpha_config_json())):
        try:
            conn.remove_function(name)
        except duckdb.Error:
            pass
        conn.create_function(name, fn, [], sqltypes.VARCHAR, type="native", side_effects=True)


class Plugin(BasePlugin):
    """dbt-duckdb plugin: creates the database folder and registers the UDFs on each connection."""

    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        """Create the folder of a file-backed warehouse (e.g. a fresh `$BACKTEST_DATA_ROOT`)
        before DuckDB opens it; DuckDB creates the file but not its parent folders."""
        path = str(getattr(creds, "path", "") or "")
        if path and path != ":memory:" and ":" not in path.split(os.sep, 1)[0]:
            Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)

    def configure_connection(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Called by dbt-duckdb once per database connection (cursors share its functions)."""
        register_udfs(conn)
