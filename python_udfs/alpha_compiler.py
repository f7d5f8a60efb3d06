"""Compiles the alpha bundle's signals (spec/alpha/signals.yaml) into one pass over fct_features:
the SQL of `int_alpha__signal_values`, one row per signal, symbol and bar.

Why the feature planner: each signal's formula becomes a hidden column of a virtual block placed in
layers by python_udfs/feature_compiler.py's planner (as the events do), so the point-in-time and gap
rules are the features': windows only reach back (`rows between n preceding and current row`), a
NULL poisons a window, and a formula whose own lookback is L is NULL unless the L + 1 bars ending at
its bar are gap-free (fct_features already masks the inputs' own windows). Gap rows are NULL.

Per signal and bar the row also says whether the signal's regime filters (bundle.yaml) leave it
on: false where a filter's condition holds for the symbol's states in dim_states at the bar (or is
unknown, with off_when_unknown), true otherwise. The cross-sectional scores per bar are taken in
python_udfs/alpha_bundle.py (cross_section_scores), next to the orthogonalisation that reads them.

SQL entry points `alpha_plan_json()` and `alpha_config_json()` (registered by
python_udfs/duckdb_plugin.py) read the spec fresh on every call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_udfs.alpha_spec import AlphaSpec, RegimeFilter, SignalDef, load_alpha_spec
from python_udfs.feature_compiler import (BAR_INDEX, FIRST_INDEX, BlockPlanner, _row_sql, literal, masked,
                                          relation_placeholder)
from python_udfs.feature_inputs import NUMBER
from python_udfs.feature_spec import FeatureCatalog, FeatureDef

ALPHA_BLOCK = "alpha"
VALUES_MODEL = "int_alpha__signal_values"
FEATURES_MODEL = "fct_features"
BARS_MODEL = "fct_bars"
STATES_MODEL = "dim_states"


def hidden_name(signal: SignalDef) -> str:
    return f"__al_{signal.name}"


def _hidden_features(spec: AlphaSpec) -> dict[str, FeatureDef]:
    """Every signal's formula as a feature of a virtual block, masked with its own lookback."""
    return {hidden_name(s): FeatureDef(name=hidden_name(s), block=ALPHA_BLOCK, file=s.file, formula=s.formula,
                                       tree=s.tree, inputs=s.inputs, lookback_bars=s.own_lookback_bars, unit="",
                                       pit="", description="", type=NUMBER)
            for s in spec.signals}


def regime_on_sql(filters: tuple[RegimeFilter, ...]) -> str:
    """true unless one of `filters` holds (or is unknown and counts as off) for the row's states."""
    if not filters:
        return "true"
    parts = []
    for regime in filters:
        condition = _row_sql(regime.tree)
        unknown = "false" if regime.off_when_unknown else "true"
        parts.append(f"(case when {condition} is null then {unknown} when {condition} then false else true end)")
    return "(" + " and ".join(parts) + ")"


@dataclass
class AlphaPlanner(BlockPlanner):
    """The feature planner over fct_features (+ fct_bars columns), ending in one row per signal."""

    spec: AlphaSpec | None = None
    state_columns: dict[str, None] = field(default_factory=dict)

    def plan(self) -> dict[str, Any]:
        assert self.spec is not None
        for regime in self.spec.regime_filters:
            for name in regime.inputs:
                self.state_columns[name] = None
        return super().plan()

    def _render(self, features: list[FeatureDef]) -> dict[str, Any]:
        assert self.spec is not None
        feature_names = list(dict.fromkeys(name for names in self.upstream.values() for name in names))
        bar_columns = [c for c in self.bar_columns if c not in ("symbol", "ts", "is_gap", "available_at")]
        relations = {relation_placeholder(FEATURES_MODEL): FEATURES_MODEL}
        imports = [("features", "select symbol, ts, is_gap"
                                f"{''.join(', ' + name for name in feature_names)} "
                                f"from {relation_placeholder(FEATURES_MODEL)}")]
        if bar_columns:
            relations[relation_placeholder(BARS_MODEL)] = BARS_MODEL
            imports.append(("bars", f"select symbol, ts, {', '.join(bar_columns)} from {relation_placeholder(BARS_MODEL)}"))
        if self.state_columns:
            relations[relation_placeholder(STATES_MODEL)] = STATES_MODEL
            imports.append(("states", f"select symbol, ts, {', '.join(self.state_columns)} "
                                      f"from {relation_placeholder(STATES_MODEL)}"))
        seconds = self.catalog.bar_interval_minutes * 60
        imports.append(("symbol_starts", f"select symbol, cast(epoch(min(ts)) // {seconds} as bigint) as {FIRST_INDEX} "
                                         f"from features group by symbol"))
        columns = ["features.symbol", "features.ts", "features.is_gap",
                   f"cast(epoch(features.ts) // {seconds} as bigint) as {BAR_INDEX}", f"symbol_starts.{FIRST_INDEX}"]
        columns += [f"features.{name}" for name in feature_names]
        columns += [f"case when features.is_gap then null else bars.{name} end as {name}" for name in bar_columns]
        joins = ["inner join symbol_starts on symbol_starts.symbol = features.symbol"]
        if bar_columns:
            joins.append("left join bars on bars.symbol = features.symbol and bars.ts = features.ts")
        base = "select\n        " + ",\n        ".join(columns) + "\n    from features\n    " + "\n    ".join(joins)
        ctes = [*imports, ("layer_0", base)]
        previous = "layer_0"
        for index, layer in enumerate(self.layers[1:], start=1):
            if not layer:
                continue
            body = ",\n        ".join(f"{sql} as {column}" for column, sql in layer)
            ctes.append((f"layer_{index}", f"select\n        *,\n        {body}\n    from {previous}"))
            previous = f"layer_{index}"
        ctes += [("signal_values", self._values_sql(previous)), ("records", self._records_sql()),
                 ("final", self._final_sql())]
        sql = "with\n\n" + ",\n\n".join(f"{name} as (\n\n    {body}\n\n)" for name, body in ctes)
        sql += "\n\nselect * from final"
        return {"model": VALUES_MODEL, "relations": relations, "sql": sql, "feature_columns": feature_names,
                "bar_columns": bar_columns, "state_columns": list(self.state_columns),
                "layers": len(ctes) - len(imports) - 4}

    def _values_sql(self, previous: str) -> str:
        assert self.spec is not None
        columns = ["symbol", "ts", "is_gap"]
        columns += [f"(case when not is_gap then {masked(hidden_name(s), s.own_lookback_bars, NUMBER)} end) "
                    f"as {hidden_name(s)}" for s in self.spec.signals]
        return "select\n        " + ",\n        ".join(columns) + f"\n    from {previous}"

    def _records_sql(self) -> str:
        assert self.spec is not None
        records = []
        for s in self.spec.signals:
            regime = regime_on_sql(self.spec.filters_of(s.name))
            records.append("{" + f"'signal_name': {literal(s.name)}, 'signal_family': {literal(s.family)}, "
                           f"'transform': {literal(s.transform)}, 'raw_value': {hidden_name(s)}, "
                           f"'regime_on': {regime}" + "}")
        join = ""
        if self.state_columns:
            join = "\n    left join states on states.symbol = signal_values.symbol and states.ts = signal_values.ts"
        return ("select\n        signal_values.symbol,\n        signal_values.ts,\n        signal_values.is_gap,\n"
                "        unnest([\n            " + ",\n            ".join(records) + "\n        ]) as record\n"
                f"    from signal_values{join}")

    @staticmethod
    def _final_sql() -> str:
        return """select
        record.signal_name,
        record.signal_family,
        record.transform,
        symbol,
        ts,
        is_gap,
        record.raw_value,
        record.regime_on
    from records"""


def compile_alpha(spec: AlphaSpec, catalog: FeatureCatalog) -> dict[str, Any]:
    """The SQL plan of int_alpha__signal_values over the features of `catalog`."""
    features = {**catalog.features, **_hidden_features(spec)}
    planner = AlphaPlanner(FeatureCatalog(catalog.root, features, {}, catalog.bar_interval_minutes), ALPHA_BLOCK,
                           spec=spec)
    return planner.plan()


def alpha_plan_json(root: Path | None = None) -> str:
    """SQL entry point: the compiled plan of int_alpha__signal_values, read fresh from spec/."""
    from python_udfs.feature_spec import load_catalog

    return json.dumps(compile_alpha(load_alpha_spec(root), load_catalog(root)), separators=(",", ":"))
