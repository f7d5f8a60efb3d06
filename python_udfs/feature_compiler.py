"""Compiles validated features into layered DuckDB SQL, one plan per feature block.

Why layers: SQL cannot nest a window function inside another (`zscore(rolling_std(ret_1, 12), 288)`).
Each formula is compiled bottom-up; a window call whose argument itself holds a window is split:
the argument becomes a hidden helper column one layer earlier. A feature sits in the first layer
where everything it reads exists, and every layer is a CTE `select *, <new columns> from <previous>`,
so columns computed together share one sort per window shape (DuckDB also de-duplicates identical
window expressions within a select).

Point-in-time and gap rules, enforced here rather than left to each formula:
* series windows are `partition by symbol order by ts rows between n-1 preceding and current row`
  (never FOLLOWING); cross-section windows are `partition by ts` (same bar, all symbols);
* NULL inside a window poisons it: arguments are coalesced to NaN, so the aggregate is NaN unless
  all n values are present, and every computed column is stored finite-or-NULL;
* every input is NULL on gap rows, and a feature with lookback L is NULL unless the L + 1 bars
  ending at its bar are gap-free and exist (`__bar_index - __last_bad > L`), which also covers the
  first L bars of a symbol's history.

The SQL entry points `feature_plan_json(block)`, `state_plan_json()` and `feature_catalog_json()`
(registered by python_udfs/duckdb_plugin.py) read the spec fresh on every call.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_udfs.feature_inputs import BARS, BOOLEAN, NUMBER, UNMASKED_COLUMNS, input_columns
from python_udfs.feature_spec import BLOCKS, FeatureCatalog, FeatureDef, load_catalog
from python_udfs.feature_vocabulary import (
    ARITHMETIC,
    COMPARISONS,
    FUNCTIONS,
    Call,
    Const,
    Node,
    Ref,
    analyze,
    ema_kernel_bars,
)
from python_udfs.spec_registry import SpecError, spec_dir

CALENDAR_MODEL = "int_calendar__bar_context"
BAR_INDEX = "__bar_index"
FIRST_INDEX = "__first_index"
LAST_BAD = "__last_bad"
SERIES = "partition by symbol order by ts"
CROSS_SECTION = "partition by ts"
NAN = "cast('nan' as double)"


def frame(n: int) -> str:
    """The last n bars of the symbol, current bar included (a regular grid: rows = bars)."""
    return f"({SERIES} rows between {n - 1} preceding and current row)"


def last_index(condition: str) -> str:
    """Bar index of the latest bar of the symbol, this one included, where `condition` holds (NULL
    if none): `last_index(c) > __bar_index - n` asks whether c held in the last n bars."""
    return (f"max(case when {condition} then {BAR_INDEX} end) over "
            f"({SERIES} rows between unbounded preceding and current row)")


def pct_rank_sql(x: str, n: int) -> str:
    """window_sql's pct_rank of a finite-or-NULL `x`, with "a value of the window is missing" asked
    of a running maximum of bar indices (one cheap pass, as rows are bars: every symbol's grid is
    regular) instead of a maximum over the n-bar frame (a sliding-window tree)."""
    missing = f"(case when {last_index(f'{x} is null')} > {BAR_INDEX} - {n} then {NAN} else 0.0 end)"
    return f"nullif((percent_rank(order by {x}) over {frame(n)} + {missing}), {NAN})"


def consecutive_sql(c: str, n: int) -> str:
    """window_sql's consecutive(c, n) with the latest unknown and the latest false bar found by
    running maxima of bar indices instead of one maximum over the n-bar frame (see pct_rank_sql)."""
    latest_false = last_index(f"not {c}")
    last_false = (f"(case when {last_index(f'{c} is null')} > {BAR_INDEX} - {n} then cast('inf' as double) "
                  f"when {latest_false} > {BAR_INDEX} - {n} then cast({latest_false} as double) "
                  f"else cast('-inf' as double) end)")
    return f"nullif(least({n}.0, {BAR_INDEX} - {last_false}), cast('-inf' as double))"


def nan_if_null(sql: str) -> str:
    """NULL -> NaN inside a window aggregate, so one missing value makes the whole window NaN."""
    return f"coalesce({sql}, {NAN})"


def masked(column: str, lookback: int, kind: str) -> str:
    """A computed column as later layers and the output see it: NULL unless the lookback + 1 bars
    ending here are gap-free, and (numbers) NULL instead of NaN or infinity. Columns are stored raw
    and wrapped where they are read, so no window expression is ever written twice."""
    finite = f" and isfinite({column})" if kind == NUMBER else ""
    return f"(case when {BAR_INDEX} - {LAST_BAD} > {lookback}{finite} then {column} end)"


def literal(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, float) and not math.isfinite(value):
        raise SpecError(f"non-finite literal {value!r}")
    return repr(value)


# --------------------------------------------------------------------------------------------------
# SQL text of vocabulary calls (arguments already compiled to SQL)
# --------------------------------------------------------------------------------------------------

def scalar_sql(call: Call, args: list[str]) -> str:
    """A row-wise operator or scalar function."""
    op = call.fn
    if op in ARITHMETIC or op in COMPARISONS:
        return f"({args[0]} {op} {args[1]})"
    if op in ("and", "or"):
        return f"({args[0]} {op} {args[1]})"
    simple = {
        "neg": "(-{0})", "not": "(not {0})", "is_null": "({0} is null)", "is_not_null": "({0} is not null)",
        "between": "({0} between {1} and {2})", "cast_double": "cast({0} as double)",
        "cast_bigint": "cast({0} as bigint)", "cast_boolean": "cast({0} as boolean)",
        "power": "power({0}, {1})", "nullif": "nullif({0}, {1})", "epoch": "epoch({0})",
        "hour": "hour(timezone('UTC', {0}))", "minute": "minute(timezone('UTC', {0}))",
        "isodow": "isodow(timezone('UTC', {0}))",
    }
    if op in simple:
        return simple[op].format(*args)
    if op == "in":
        return f"({args[0]} in ({', '.join(args[1:])}))"
    if op == "case":
        branches = " ".join(f"when {cond} then {value}" for cond, value in zip(args[0:-1:2], args[1:-1:2]))
        return f"(case {branches} else {args[-1]} end)"
    if op in ("greatest", "least"):
        # NULL if any argument is NULL (DuckDB's own greatest/least skip NULLs, which would turn
        # an unknown into a number).
        nulls = " or ".join(f"{arg} is null" for arg, node in zip(args, call.args) if not isinstance(node, Const))
        if not nulls:
            return f"{op}({', '.join(args)})"
        return f"(case when {nulls} then null else {op}({', '.join(args)}) end)"
    if op == "coalesce":
        return f"coalesce({', '.join(args)})"
    if op == "round":
        return f"round({args[0]}, {call.params[0]})" if call.params else f"round({args[0]})"
    if op in ("ln", "log10", "log2", "exp", "sqrt", "abs", "sign", "floor", "ceil", "tanh"):
        return f"{op}({args[0]})"
    raise SpecError(f"no SQL for scalar function '{op}'")


def ema_sql(x: str, span: int) -> str:
    """EMA with alpha = 2 / (span + 1) as a finite geometric kernel over the last K bars, normalised
    to sum to 1: sum_j w^j x[t-j] / sum_j w^j, w = 1 - alpha, j < K = ema_kernel_bars(span).

    A geometric weight cannot be written as a plain window sum, so bars are cut into blocks of K
    (by bar index) and each value is scaled by w^-(index mod K): inside one block the scaled sum
    times w^(t mod K) is the weighted sum. K bars span at most two consecutive blocks, one of even
    and one of odd number, so two window sums (even blocks, odd blocks) recombined with the right
    power give the exact kernel sum: w^(t mod K) * (current block's sum + w^K * previous block's).
    Scale factors stay within w^-K = 1 / EMA_TOLERANCE (1e10), far from overflow."""
    alpha = 2.0 / (span + 1.0)
    w = 1.0 - alpha
    k = ema_kernel_bars(span)
    c = -math.log(w)
    norm = (1.0 - w) / (1.0 - w ** k)
    r = f"({BAR_INDEX} % {k})"
    parity = f"(({BAR_INDEX} // {k}) % 2)"
    scaled = f"{nan_if_null(x)} * exp({r} * {c!r})"
    even = f"sum(case when {parity} = 0 then {scaled} else 0.0 end) over {frame(k)}"
    odd = f"sum(case when {parity} = 1 then {scaled} else 0.0 end) over {frame(k)}"
    current = f"(case when {parity} = 0 then {even} else {odd} end)"
    previous = f"(case when {parity} = 0 then {odd} else {even} end)"
    # 1 / exp(r c) rather than exp(-r c): the same exp() as inside the sums, computed once per row.
    return f"({norm!r} / exp({r} * {c!r}) * ({current} + {w ** k!r} * {previous}))"


def window_sql(call: Call, args: list[str]) -> str:
    """A series (per symbol, past bars) or cross-section (per ts) vocabulary function.

    Window aggregates see NULL as NaN (so one missing value spoils the window); their result is
    turned back into NULL here, in the same expression: DuckDB orders NaN above every number, so a
    NaN left in `rolling_max(x, 12) > 3` would compare true and make an unknown look known."""
    sql = _window_sql(call, args)
    if call.fn == "consecutive":
        return f"nullif({sql}, cast('-inf' as double))"
    if call.fn in NAN_RESULT_FUNCTIONS:
        return f"nullif({sql}, {NAN})"
    return sql


def _window_sql(call: Call, args: list[str]) -> str:
    fn, params = call.fn, call.params
    lag_over = f"over ({SERIES})"
    if fn == "lag":
        return f"lag({args[0]}, {params[0]}) {lag_over}"
    if fn == "log_return":
        return f"ln({args[0]} / lag({args[0]}, {params[0]}) {lag_over})"
    if fn == "pct_change":
        return f"({args[0]} / lag({args[0]}, {params[0]}) {lag_over} - 1)"
    if fn == "diff":
        return f"({args[0]} - lag({args[0]}, {params[0]}) {lag_over})"
    if fn == "ema":
        return ema_sql(args[0], int(params[0]))
    if fn in SERIES_AGGREGATES or fn in ("rolling_min", "rolling_count", "zscore", "pct_rank", "consecutive",
                                         "rolling_cov", "rolling_corr", "rolling_beta"):
        n = int(params[0])
        over = frame(n)
        x = nan_if_null(args[0])
        if fn in SERIES_AGGREGATES:
            return f"{SERIES_AGGREGATES[fn]}({x}) over {over}"
        if fn == "rolling_min":
            return f"(-max(-{x}) over {over})"
        if fn == "rolling_count":
            return (f"sum(case when {args[0]} then 1.0 when not {args[0]} then 0.0 else {NAN} end) "
                    f"over {over}")
        if fn == "zscore":
            return f"(({args[0]} - avg({x}) over {over}) / stddev_samp({x}) over {over})"
        if fn == "pct_rank":
            # 0 * max(...) is NaN when any value of the window is missing, 0 otherwise.
            return f"(percent_rank(order by {args[0]}) over {over} + 0.0 * max({x}) over {over})"
        if fn == "consecutive":
            # Latest bar index in the window where cond is false (+inf if unknown anywhere, -inf if
            # always true): the run is the distance to it, capped at n.
            last_false = (f"max(case when {args[0]} then cast('-inf' as double) when not {args[0]} "
                          f"then cast({BAR_INDEX} as double) else cast('inf' as double) end) over {over}")
            return f"least({n}.0, {BAR_INDEX} - {last_false})"
        y = nan_if_null(args[1])
        if fn == "rolling_cov":
            return f"covar_samp({x}, {y}) over {over}"
        if fn == "rolling_corr":
            return f"corr({x}, {y}) over {over}"
        return f"regr_slope({x}, {y}) over {over}"  # rolling_beta(y, x): slope of the first on the second
    xs = f"over ({CROSS_SECTION})"
    if fn == "xs_count":
        return f"count({args[0]}) {xs}"
    if fn in ("xs_mean", "xs_std", "xs_sum"):
        # The symbols' values collected in symbol order and reduced sequentially: a float sum in
        # a fixed order, so the result does not depend on how threads split the bar's rows.
        return f"{LIST_REDUCTIONS[fn]}(list({args[0]} order by symbol) {xs})"
    if fn == "xs_rank":
        x = args[0]
        return (f"(case when {x} is not null then percent_rank() over ({CROSS_SECTION} order by {x} asc nulls last)"
                f" * (count(*) {xs} - 1) / (count({x}) {xs} - 1) end)")
    if fn == "symbol_value":
        return f"max(case when symbol = {literal(params[0])} then {args[0]} end) {xs}"
    raise SpecError(f"no SQL for vocabulary function '{fn}'")


NAN_RESULT_FUNCTIONS = frozenset({"rolling_mean", "rolling_sum", "rolling_std", "rolling_var", "rolling_max",
                                  "rolling_min", "rolling_count", "rolling_cov", "rolling_corr", "rolling_beta",
                                  "zscore", "pct_rank", "ema"})
"""Window functions whose result is NaN when a value in the window is missing (see window_sql)."""

LIST_REDUCTIONS = {"xs_mean": "list_avg", "xs_std": "list_stddev_samp", "xs_sum": "list_sum"}
XS_VALUES = "__xs_values"
"""Per bar: every symbol's arguments of one layer's list reductions, as structs ordered by symbol."""
SYMBOL_RANK = "__symbol_rank"

SERIES_AGGREGATES = {"rolling_mean": "avg", "rolling_sum": "sum", "rolling_std": "stddev_samp",
                     "rolling_var": "var_samp", "rolling_max": "max"}
WINDOW_FUNCTIONS = {name for name, fn in FUNCTIONS.items() if fn.kind != "scalar"}


# --------------------------------------------------------------------------------------------------
# Layering
# --------------------------------------------------------------------------------------------------

@dataclass
class Emitted:
    """SQL of a sub-expression, the first layer it can be computed in, and whether it holds a window."""

    sql: str
    level: int
    windowed: bool
    finite: bool = False
    """Finite or NULL on every row (a stored or masked number): missing is then just NULL."""


@dataclass
class BlockPlanner:
    """Places one block's features (and the helpers they need) into layers over the base relation."""

    catalog: FeatureCatalog
    block: str
    inputs: dict[str, Any] = field(default_factory=input_columns)
    layers: list[list[tuple[str, str]]] = field(default_factory=lambda: [[], []])
    available: dict[str, int] = field(default_factory=dict)
    helper_names: dict[str, str] = field(default_factory=dict)
    helper_types: dict[str, str] = field(default_factory=dict)
    bar_columns: dict[str, None] = field(default_factory=dict)
    calendar_columns: dict[str, None] = field(default_factory=dict)
    upstream: dict[str, dict[str, None]] = field(default_factory=dict)
    current: str = ""
    placed: dict[str, int] = field(default_factory=dict)
    feature_block: bool = False
    """Planning a stored feature block (compile_block): cheaper SQL for the same values, bit for
    bit - cross-section aggregates grouped per ts (_cross_section_sql), window-missing checks from
    a running index and long maxima from daily ones (_series_sql), a window shared by two layers
    computed once (_reuse_windows). The event and alpha planners keep the plain window forms."""
    xs_aggregates: dict[int, dict[str, str]] = field(default_factory=dict)
    """level -> aggregate SQL -> column name, computed per ts over the layer before `level`."""
    xs_values: dict[int, dict[str, str]] = field(default_factory=dict)
    """level -> argument SQL -> field of the symbol-ordered list the list reductions read."""
    series_windows: dict[str, int] = field(default_factory=dict)
    """SQL of every series window call of a feature block -> the layer it can be computed in."""
    window_columns: dict[str, str] = field(default_factory=dict)
    """SQL of a series window call -> the column holding it for later layers (_reuse_windows)."""

    def plan(self) -> dict[str, Any]:
        features = self.catalog.block(self.block)
        for feature in features:
            self.current = feature.name
            emitted = self.emit(feature.tree)
            level = max(emitted.level, 1)
            self._place(feature.name, emitted.sql, level)
            self.placed[feature.name] = level
        # First in layer 1 (no emitted expression reads it: masks are evaluated a layer later).
        self.layers[1].insert(0, (LAST_BAD, self._last_bad_sql(features)))
        self.available[LAST_BAD] = 1
        return self._render(features)

    # -- emission ---------------------------------------------------------------------------------

    def emit(self, node: Node) -> Emitted:
        if isinstance(node, Const):
            return Emitted(literal(node.value), 1, False)
        if isinstance(node, Ref):
            return self._ref(node.name)
        args = [self.emit(arg) for arg in node.args]
        if node.fn not in WINDOW_FUNCTIONS:
            return Emitted(scalar_sql(node, [a.sql for a in args]), max((a.level for a in args), default=1),
                           any(a.windowed for a in args))
        cross_section = FUNCTIONS[node.fn].kind == "cross_section"
        ready: list[Emitted] = []
        for arg, original in zip(args, node.args):
            # A window cannot contain a window: compute such an argument one layer earlier. Cross-
            # section arguments that are not plain columns are hoisted too, so they arrive finite-or-NULL.
            if arg.windowed or (cross_section and not isinstance(original, (Ref, Const))):
                grouped = cross_section and self.feature_block and not arg.windowed
                arg = self._finite(arg, original) if grouped else self._hoist(arg, original)
            ready.append(arg)
        level = max((a.level for a in ready), default=1)
        if self.feature_block and cross_section:
            return Emitted(self._cross_section_sql(node, [a.sql for a in ready], level), level, True)
        if self.feature_block:
            sql, level = self._series_sql(node, ready, level)
            self.series_windows.setdefault(sql, level)
            return Emitted(sql, level, True)
        return Emitted(window_sql(node, [a.sql for a in ready]), level, True)

    def _series_sql(self, call: Call, args: list[Emitted], level: int) -> tuple[str, int]:
        """A series window function and the layer it is computed in: window_sql, or one of three
        cheaper forms of the same values."""
        fn, n = call.fn, int(call.params[0]) if call.params else 0
        day = 24 * 60 // self.catalog.bar_interval_minutes
        if fn == "pct_rank" and args[0].finite:
            return pct_rank_sql(args[0].sql, n), level
        if fn == "consecutive":
            return consecutive_sql(args[0].sql, n), level
        if fn in ("rolling_max", "rolling_min") and n > day and n % day == 0:
            return self._long_extreme_sql(fn, args[0].sql, n, day, level), level + 1
        return window_sql(call, [a.sql for a in args]), level

    def _long_extreme_sql(self, fn: str, x: str, n: int, day: int, level: int) -> str:
        """rolling_max / rolling_min over whole days (n a multiple of a day's bars, longer than a
        day): the greatest of the daily maxima ending every day back, read one layer later with
        `lag` (NULL before the symbol's start, skipped by greatest; NaN wins, as in max). A maximum
        is exact in any grouping, the daily window is usually computed anyway, and DuckDB's sliding
        maximum costs about three times more over a week than over a day."""
        sign = "" if fn == "rolling_max" else "-"
        daily = self._window_column(f"max({sign}{nan_if_null(x)}) over {frame(day)}", level)
        days = [daily] + [f"lag({daily}, {k * day}) over ({SERIES})" for k in range(1, n // day)]
        return f"nullif({sign}greatest({', '.join(days)}), {NAN})"

    def _cross_section_sql(self, call: Call, args: list[str], level: int) -> str:
        """A cross-section function from per-ts aggregates (the same values as window_sql's).

        A window over (partition by ts) hands every row its bar's whole list of symbols' values
        before reducing it; grouping by ts builds each bar's list once. The list reductions read
        one list per bar of every argument, ordered by symbol (list_sort of structs led by the
        symbol's rank), so they add in the same order as `list(x order by symbol)`: identical floats."""
        fn, x = call.fn, args[0] if args else ""
        if fn == "xs_count":
            return self._xs_aggregate(level, f"count({x})")
        if fn in LIST_REDUCTIONS:
            field_name = self.xs_values.setdefault(level, {}).setdefault(x, f"v{len(self.xs_values[level]) + 1}")
            return self._xs_aggregate(
                level, f"{LIST_REDUCTIONS[fn]}(list_transform({XS_VALUES}, lambda v: v.{field_name}))")
        if fn == "symbol_value":
            return self._xs_aggregate(level, f"max(case when symbol = {literal(call.params[0])} then {x} end)")
        if fn == "xs_rank":
            everyone = self._xs_aggregate(level, "count(*)")
            present = self._xs_aggregate(level, f"count({x})")
            return (f"(case when {x} is not null then percent_rank() over ({CROSS_SECTION} order by {x} asc "
                    f"nulls last) * ({everyone} - 1) / ({present} - 1) end)")
        raise SpecError(f"no SQL for cross-section function '{fn}'")

    def _xs_aggregate(self, level: int, sql: str) -> str:
        columns = self.xs_aggregates.setdefault(level, {})
        return columns.setdefault(sql, f"__xs{level}_{len(columns) + 1}")

    def _ref(self, name: str) -> Emitted:
        column = self.inputs.get(name)
        if column is not None:
            target = self.bar_columns if column.relation == BARS else self.calendar_columns
            target[name] = None
            return Emitted(name, 1, False)
        feature = self.catalog.features.get(name)
        if feature is None:
            raise SpecError(f"{self.block}: unknown column or feature '{name}'")
        if feature.block != self.block:
            self.upstream.setdefault(feature.block, {})[name] = None
            return Emitted(name, 1, False, feature.type == NUMBER)
        return Emitted(masked(name, feature.lookback_bars, feature.type), self.available[name] + 1, False,
                       feature.type == NUMBER)

    def _hoist(self, arg: Emitted, original: Node) -> Emitted:
        name = self.helper_names.get(arg.sql)
        if name is None:
            name = f"__h{len(self.helper_names) + 1}_{self.current}"
            self.helper_names[arg.sql] = name
            self._place(name, arg.sql, max(arg.level, 1))
            self.helper_types[name] = NUMBER if self._is_numeric(original) else BOOLEAN
        numeric = self.helper_types[name] == NUMBER
        sql = f"(case when isfinite({name}) then {name} end)" if numeric else name
        return Emitted(sql, self.available[name] + 1, False, numeric)

    def _finite(self, arg: Emitted, original: Node) -> Emitted:
        """A row-wise argument of a grouped cross-section aggregate, finite-or-NULL as a hoisted
        helper would be read, computed inside the per-ts aggregate instead of a layer earlier."""
        if not self._is_numeric(original):
            return arg
        return Emitted(f"(case when isfinite({arg.sql}) then {arg.sql} end)", arg.level, False, True)

    def _is_numeric(self, node: Node) -> bool:
        def resolve(ref: str) -> tuple[str, int]:
            if ref in self.inputs:
                return self.inputs[ref].type, 0
            feature = self.catalog.features[ref]
            return feature.type, feature.lookback_bars

        return analyze(node, resolve).type == NUMBER

    def _place(self, name: str, sql: str, level: int) -> None:
        if self.feature_block:
            sql = self._reuse_windows(sql, level)
        while len(self.layers) <= level:
            self.layers.append([])
        self.layers[level].append((name, sql))
        self.available[name] = level

    def _reuse_windows(self, sql: str, level: int) -> str:
        """`sql`, placed in layer `level`, with every series window call it shares with an earlier
        layer read from a column of that layer instead of being computed (sorted, aggregated)
        again: the same SQL over the same rows, so the same value. Within one layer DuckDB already
        computes identical window expressions once."""
        for window, computed_at in self.series_windows.items():
            if computed_at < level and window in sql:
                sql = sql.replace(window, self._window_column(window, computed_at))
        return sql

    def _window_column(self, window: str, level: int) -> str:
        """A column of layer `level` holding `window` as computed (NaN included), for later layers."""
        column = self.window_columns.get(window)
        if column is None:
            column = f"__w{len(self.window_columns) + 1}"
            self.window_columns[window] = column
            self._place(column, window, level)
        return column

    # -- rendering --------------------------------------------------------------------------------

    def _last_bad_sql(self, features: list[FeatureDef]) -> str:
        """Bar index of the latest gap at or before this bar, or the bar before the symbol's first
        (so `__bar_index - __last_bad` counts the clean bars ending here). One running max; the
        first bar comes from a per-symbol aggregate joined in layer 0.

        A block that computes no window and whose features all have lookback 0 only ever asks
        `__bar_index - __last_bad > 0`, i.e. "this bar is not a gap": it gets that from the row
        itself, so the block needs no sort at all (the context block: calendar columns)."""
        if not self._has_windows() and all(f.lookback_bars == 0 for f in features):
            return f"(case when is_gap then {BAR_INDEX} else {BAR_INDEX} - 1 end)"
        running = f"({SERIES} rows between unbounded preceding and current row)"
        return f"greatest(max(case when is_gap then {BAR_INDEX} end) over {running}, {FIRST_INDEX} - 1)"

    def _has_windows(self) -> bool:
        return any(" over " in sql for columns in self.layers for _, sql in columns)

    def _symbol_starts(self) -> dict[str, str]:
        """Per-symbol columns joined in layer 0: the first bar (for __last_bad's window) and the
        symbol's rank in symbol order (what the grouped cross-section lists are sorted by: an
        integer sorts cheaper than the name and gives the same order)."""
        seconds = self.catalog.bar_interval_minutes * 60
        columns = {}
        if self._has_windows():
            columns[FIRST_INDEX] = f"cast(epoch(min(ts)) // {seconds} as bigint)"
        if any(self.xs_values.values()):
            columns[SYMBOL_RANK] = "row_number() over (order by symbol)"
        return columns

    def _base_sql(self) -> str:
        seconds = self.catalog.bar_interval_minutes * 60
        columns = ["bars.symbol", "bars.ts", "bars.is_gap",
                   f"cast(epoch(bars.ts) // {seconds} as bigint) as {BAR_INDEX}"]
        columns += [f"symbol_starts.{name}" for name in self._symbol_starts()]
        for name in self.bar_columns:
            if name in ("symbol", "ts", "is_gap"):
                continue
            if name in UNMASKED_COLUMNS:
                columns.append(f"bars.{name}")
            else:
                columns.append(f"case when bars.is_gap then null else bars.{name} end as {name}")
        for name in self.calendar_columns:
            columns.append(f"case when bars.is_gap then null else calendar.{name} end as {name}")
        joins = ["inner join symbol_starts on symbol_starts.symbol = bars.symbol"] if self._symbol_starts() else []
        if self.calendar_columns:
            joins.append("left join calendar on calendar.ts = bars.ts")
        for block, names in self.upstream.items():
            alias = f"upstream__{block}"
            columns.extend(f"{alias}.{name}" for name in names)
            joins.append(f"left join {alias} on {alias}.symbol = bars.symbol and {alias}.ts = bars.ts")
        select = ",\n        ".join(columns)
        return f"select\n        {select}\n    from bars\n    " + "\n    ".join(joins)

    def _cross_section_cte(self, level: int, previous: str) -> str:
        """One row per ts with the cross-section aggregates of `level` over the layer before it."""
        columns = self.xs_aggregates[level]
        direct = [(name, sql) for sql, name in columns.items() if XS_VALUES not in sql]
        reduced = [(name, sql) for sql, name in columns.items() if XS_VALUES in sql]
        grouped = [f"{sql} as {name}" for name, sql in direct]
        if reduced:
            fields = "".join(f", '{name}': {sql}" for sql, name in self.xs_values[level].items())
            grouped.append(f"list_sort(list({{'rank': {SYMBOL_RANK}{fields}}})) as {XS_VALUES}")
        outer = [name for name, _ in direct] + [f"{sql} as {name}" for name, sql in reduced]
        return (f"select\n        ts,\n        " + ",\n        ".join(outer) + "\n    from (\n        select ts, "
                + ", ".join(grouped) + f"\n        from {previous}\n        group by ts\n    ) as grouped")

    def _render(self, features: list[FeatureDef]) -> dict[str, Any]:
        relations = {relation_placeholder("fct_bars"): "fct_bars"}
        bar_columns = [c for c in self.bar_columns if c not in ("symbol", "ts", "is_gap")]
        imports = [("bars", f"select symbol, ts, is_gap{''.join(', ' + c for c in bar_columns)} "
                            f"from {relation_placeholder('fct_bars')}")]
        if self.calendar_columns:
            relations[relation_placeholder(CALENDAR_MODEL)] = CALENDAR_MODEL
            imports.append(("calendar", f"select ts, {', '.join(self.calendar_columns)} "
                                        f"from {relation_placeholder(CALENDAR_MODEL)}"))
        upstream = sorted(self.upstream.items(), key=lambda kv: BLOCKS.index(kv[0]))
        for block, names in upstream:
            model = f"int_features__{block}"
            relations[relation_placeholder(model)] = model
            imports.append((f"upstream__{block}", f"select symbol, ts, {', '.join(names)} "
                                                  f"from {relation_placeholder(model)}"))
        if self._symbol_starts():
            # From the input relation rather than the `bars` CTE: a CTE read twice is materialised
            # (a copy of every bar column the block reads); the second scan reads two columns.
            columns = "".join(f", {sql} as {name}" for name, sql in self._symbol_starts().items())
            imports.append(("symbol_starts", f"select symbol{columns} from {relation_placeholder('fct_bars')} "
                                             f"group by symbol"))
        ctes = [*imports, ("layer_0", self._base_sql())]
        previous = "layer_0"
        for index, columns in enumerate(self.layers[1:], start=1):
            source = previous
            if index in self.xs_aggregates:
                ctes.append((f"xs_{index}", self._cross_section_cte(index, previous)))
                source = f"{previous}\n    inner join xs_{index} using (ts)"
            elif not columns:
                continue
            body = "".join(f",\n        {sql} as {column}" for column, sql in columns)
            ctes.append((f"layer_{index}", f"select\n        *{body}\n    from {source}"))
            previous = f"layer_{index}"
        outputs = "".join(f",\n        {masked(f.name, f.lookback_bars, f.type)} as {f.name}" for f in features)
        ctes.append(("final", f"select\n        symbol,\n        ts{outputs}\n    from {previous}"))
        sql = "with\n\n" + ",\n\n".join(f"{name} as (\n\n    {body}\n\n)" for name, body in ctes)
        # Unordered: the block model (macros/features/feature_blocks.sql) sorts the rows it writes
        # by (symbol, ts) once, after its incremental filter (fct_features lines blocks up by position).
        sql += "\n\nselect * from final"
        return {
            "block": self.block,
            "model": f"int_features__{self.block}",
            "bar_interval_minutes": self.catalog.bar_interval_minutes,
            "bar_columns": bar_columns,
            "calendar_columns": list(self.calendar_columns),
            "upstream": [{"block": block, "model": f"int_features__{block}", "columns": list(names)}
                         for block, names in upstream],
            "relations": relations,
            "sql": sql,
            "features": [feature_summary(f, self.placed[f.name]) for f in features],
            "layers": len(ctes) - len(imports) - 2,
            "window_layers": sum(1 for columns in self.layers[1:] if any(" over " in sql for _, sql in columns)),
            # Incremental builds (macros/incremental): how far back a new bar's features reach, and
            # whether they depend on other symbols' rows.
            "lookback_bars": max((f.lookback_bars for f in features), default=0),
            "cross_section": not cross_section_features(self.catalog).isdisjoint(f.name for f in features),
        }


def relation_placeholder(model: str) -> str:
    """Stands for `ref(model)` in a plan's SQL; macros/features replace it with the relation."""
    return f"__relation__{model}__"


def render_sql(plan: dict[str, Any], relations: dict[str, str]) -> str:
    """A plan's SQL with each model placeholder replaced by a relation name (tests, benchmarks)."""
    sql = plan["sql"]
    for placeholder, model in plan["relations"].items():
        sql = sql.replace(placeholder, relations.get(model, model))
    return sql


def feature_summary(feature: FeatureDef, layer: int | None = None) -> dict[str, Any]:
    summary = {"name": feature.name, "block": feature.block, "type": feature.type,
               "lookback_bars": feature.lookback_bars, "unit": feature.unit, "pit": feature.pit,
               "description": feature.description, "formula": feature.formula}
    if layer is not None:
        summary["layer"] = layer
    return summary


def compile_block(catalog: FeatureCatalog, block: str) -> dict[str, Any]:
    """The layered SQL plan of one block (see module docstring)."""
    if block not in BLOCKS:
        raise SpecError(f"unknown feature block '{block}' (blocks: {', '.join(BLOCKS)})")
    return BlockPlanner(catalog, block, feature_block=True).plan()


def compile_states(catalog: FeatureCatalog) -> dict[str, Any]:
    """One CASE column per state, over the columns of fct_features; NULL when any input is NULL."""
    states = []
    for state in catalog.states.values():
        nulls = " or ".join(f"{name} is null" for name in state.inputs)
        branches = " ".join(f"when {_row_sql(case.tree)} then {literal(case.value)}" for case in state.cases)
        sql = f"case when {nulls} then null {branches} else {literal(state.default)} end"
        states.append({"name": state.name, "sql": sql, "labels": list(state.labels), "inputs": list(state.inputs),
                       "description": state.description, "default": state.default})
    return {"states": states}


def _row_sql(node: Node) -> str:
    """SQL of a row-wise expression over fct_features columns (state conditions)."""
    if isinstance(node, Const):
        return literal(node.value)
    if isinstance(node, Ref):
        return node.name
    return scalar_sql(node, [_row_sql(arg) for arg in node.args])


def catalog_summary(catalog: FeatureCatalog) -> dict[str, Any]:
    return {
        "blocks": {block: [feature_summary(f) for f in catalog.block(block)] for block in BLOCKS},
        "states": [{"name": s.name, "labels": list(s.labels), "inputs": list(s.inputs), "description": s.description}
                   for s in catalog.states.values()],
        "bar_interval_minutes": catalog.bar_interval_minutes,
    }


def cross_section_features(catalog: FeatureCatalog) -> set[str]:
    """Features whose value at (symbol, ts) depends on other symbols' rows: they call a cross-section
    function or read such a feature. An incremental build recomputes a block holding one for every
    symbol from the earliest bar any symbol added (macros/incremental), not per symbol."""
    found: dict[str, bool] = {}

    def depends(node: Node) -> bool:
        if isinstance(node, Ref):
            feature = catalog.features.get(node.name)
            return feature is not None and visit(feature)
        if isinstance(node, Call):
            function = FUNCTIONS.get(node.fn)
            if function is not None and function.kind == "cross_section":
                return True
            return any(depends(arg) for arg in node.args)
        return False

    def visit(feature: FeatureDef) -> bool:
        if feature.name not in found:
            found[feature.name] = False  # a feature reads only earlier ones; this only guards recursion
            found[feature.name] = depends(feature.tree)
        return found[feature.name]

    return {name for name, feature in catalog.features.items() if visit(feature)}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _spec_files(root: Path | None) -> tuple[str, tuple[tuple[str, str], ...]]:
    """The spec folder and the text of every YAML file in it, read now: the key of the compiled
    results below, so an edited file is compiled again and an unchanged spec is compiled once per
    build (every block model, fct_features and dim_states ask for it)."""
    folder = root or spec_dir()
    files = tuple((str(path.relative_to(folder)), path.read_text(encoding="utf-8"))
                  for path in sorted(folder.rglob("*.yaml")))
    return str(folder), files


@functools.lru_cache(maxsize=4)
def _catalog(folder: str, files: tuple[tuple[str, str], ...]) -> FeatureCatalog:
    del files  # the cache key only: load_catalog reads the same files again
    return load_catalog(Path(folder))


@functools.lru_cache(maxsize=64)
def _plan_json(folder: str, files: tuple[tuple[str, str], ...], block: str) -> str:
    return _dumps(compile_block(_catalog(folder, files), block))


@functools.lru_cache(maxsize=4)
def _states_json(folder: str, files: tuple[tuple[str, str], ...]) -> str:
    return _dumps(compile_states(_catalog(folder, files)))


@functools.lru_cache(maxsize=4)
def _catalog_json(folder: str, files: tuple[tuple[str, str], ...]) -> str:
    return _dumps(catalog_summary(_catalog(folder, files)))


def feature_plan_json(block: str, root: Path | None = None) -> str:
    """SQL entry point: the compiled plan of one block, read fresh from spec/."""
    return _plan_json(*_spec_files(root), block)


def state_plan_json(root: Path | None = None) -> str:
    """SQL entry point: the compiled state columns, read fresh from spec/."""
    return _states_json(*_spec_files(root))


def feature_catalog_json(root: Path | None = None) -> str:
    """SQL entry point: every feature (by block) and state with its type, lookback, unit and description."""
    return _catalog_json(*_spec_files(root))
