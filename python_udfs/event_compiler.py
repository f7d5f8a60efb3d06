"""Compiles the validated event catalog into one pass over fct_features (+ the fct_bars columns the
events read): `int_events__detected`, and the coverage aggregate `fct_event_coverage`.

Why one pass: 57 detections over the same bars share their scans and sorts. Every event's
detection, direction and severity score become hidden columns placed in layers by the feature
planner (python_udfs/feature_compiler.py), so the point-in-time and gap rules are the features':
windows only reach back (`rows between n preceding and current row`), NULL poisons a window, and
an expression with lookback L is NULL unless the L + 1 bars ending at its bar are gap-free.

On top of that, per event:
* evaluable: the bar is not a gap, every input is known and the detection is not NULL; the flag is
  NULL where the event is not evaluable (never false), so "did not fire" and "could not tell" differ;
* trigger: the detection is true on an evaluable bar;
* de-duplication (cooldown_bars = N): the event fires on a trigger bar when none of the previous N
  bars triggered (`rows between N preceding and 1 preceding`), i.e. on the first bar of each run of
  triggers spaced less than N + 1 bars apart. Unknown bars count as no trigger.

SQL entry points `event_plan_json()` and `event_catalog_json()` (registered by
python_udfs/duckdb_plugin.py) read the spec fresh on every call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from python_udfs.event_spec import EventCatalog, EventDef, load_event_catalog
from python_udfs.feature_compiler import (
    BAR_INDEX,
    FIRST_INDEX,
    SERIES,
    BlockPlanner,
    literal,
    masked,
    relation_placeholder,
)
from python_udfs.feature_inputs import BARS, BOOLEAN, NUMBER, input_columns
from python_udfs.feature_spec import FeatureCatalog, FeatureDef

EVENTS_BLOCK = "events"
DETECTED_MODEL = "int_events__detected"
FEATURES_MODEL = "fct_features"
BARS_MODEL = "fct_bars"


def _hidden(event: EventDef, part: str) -> str:
    return f"__ev_{event.column}_{part}"


def _hidden_features(catalog: EventCatalog) -> dict[str, FeatureDef]:
    """Detection, direction and severity score of every event as features of a virtual block, all
    with the event's lookback, so they are masked together."""
    hidden: dict[str, FeatureDef] = {}
    for event in catalog.events.values():
        parts = [("trig", event.detection, event.detection_tree, BOOLEAN),
                 ("score", event.severity_score, event.severity_tree, NUMBER)]
        if event.direction_tree is not None:
            parts.append(("dir", event.direction, event.direction_tree, NUMBER))
        for part, formula, tree, kind in parts:
            name = _hidden(event, part)
            hidden[name] = FeatureDef(name=name, block=EVENTS_BLOCK, file=event.file, formula=formula, tree=tree,
                                      inputs=event.inputs, lookback_bars=event.own_lookback_bars, unit="", pit="",
                                      description="", type=kind)
    return hidden


@dataclass
class EventPlanner(BlockPlanner):
    """The feature planner over fct_features instead of the feature blocks' models."""

    events: EventCatalog | None = None
    attribute_columns: dict[str, None] = field(default_factory=dict)

    def plan(self) -> dict[str, Any]:
        assert self.events is not None
        for event in self.events.events.values():
            for name in event.inputs:
                self._ref(name)
            for name in event.attributes:
                self._ref(name)
                self.attribute_columns[name] = None
        return super().plan()

    def _render(self, features: list[FeatureDef]) -> dict[str, Any]:
        assert self.events is not None
        feature_names = [name for names in self.upstream.values() for name in names]
        feature_names = list(dict.fromkeys(feature_names))
        bar_columns = [c for c in self.bar_columns if c not in ("symbol", "ts", "is_gap", "available_at")]
        relations = {relation_placeholder(FEATURES_MODEL): FEATURES_MODEL}
        imports = [("features", "select symbol, ts, available_at, is_gap"
                                f"{''.join(', ' + name for name in feature_names)} "
                                f"from {relation_placeholder(FEATURES_MODEL)}")]
        if bar_columns:
            relations[relation_placeholder(BARS_MODEL)] = BARS_MODEL
            imports.append(("bars", f"select symbol, ts, {', '.join(bar_columns)} from {relation_placeholder(BARS_MODEL)}"))
        seconds = self.catalog.bar_interval_minutes * 60
        imports.append(("symbol_starts", f"select symbol, cast(epoch(min(ts)) // {seconds} as bigint) as {FIRST_INDEX} "
                                         f"from features group by symbol"))
        columns = ["features.symbol", "features.ts", "features.available_at", "features.is_gap",
                   f"cast(epoch(features.ts) // {seconds} as bigint) as {BAR_INDEX}", f"symbol_starts.{FIRST_INDEX}"]
        columns += [f"features.{name}" for name in feature_names]
        columns += [f"case when features.is_gap then null else bars.{name} end as {name}" for name in bar_columns]
        joins = ["inner join symbol_starts on symbol_starts.symbol = features.symbol"]
        if bar_columns:
            joins.append("left join bars on bars.symbol = features.symbol and bars.ts = features.ts")
        base = ("select\n        " + ",\n        ".join(columns) + "\n    from features\n    " + "\n    ".join(joins))
        ctes = [*imports, ("layer_0", base)]
        previous = "layer_0"
        for index, layer in enumerate(self.layers[1:], start=1):
            if not layer:
                continue
            body = ",\n        ".join(f"{sql} as {column}" for column, sql in layer)
            ctes.append((f"layer_{index}", f"select\n        *,\n        {body}\n    from {previous}"))
            previous = f"layer_{index}"
        events = list(self.events.events.values())
        ctes.append(("triggers", self._triggers_sql(events, previous)))
        ctes.append(("flags", self._flags_sql(events)))
        ctes.append(("final", self._final_sql(events)))
        sql = "with\n\n" + ",\n\n".join(f"{name} as (\n\n    {body}\n\n)" for name, body in ctes)
        sql += "\n\nselect * from final\norder by symbol, ts"
        return {
            "block": EVENTS_BLOCK,
            "model": DETECTED_MODEL,
            "relations": relations,
            "sql": sql,
            "feature_columns": feature_names,
            "bar_columns": bar_columns,
            "layers": len(ctes) - len(imports) - 4,
        }

    # -- per-event columns -------------------------------------------------------------------------

    def _triggers_sql(self, events: list[EventDef], previous: str) -> str:
        carried = ["symbol", "ts", "available_at", "is_gap", *self.attribute_columns]
        columns = list(dict.fromkeys(carried))
        for event in events:
            known = " and ".join([f"{name} is not null" for name in event.inputs])
            trig = masked(_hidden(event, "trig"), event.own_lookback_bars, BOOLEAN)
            columns.append(f"case when not is_gap and {known} then {trig} end as {_hidden(event, 'trigger')}")
            columns.append(f"{masked(_hidden(event, 'score'), event.own_lookback_bars, NUMBER)} as {_hidden(event, 'score')}")
            if event.direction_tree is not None:
                columns.append(f"{masked(_hidden(event, 'dir'), event.own_lookback_bars, NUMBER)} as {_hidden(event, 'dir')}")
        return "select\n        " + ",\n        ".join(columns) + f"\n    from {previous}"

    def _flags_sql(self, events: list[EventDef]) -> str:
        columns = ["*"]
        for event in events:
            trigger = _hidden(event, "trigger")
            if event.cooldown_bars == 0:
                columns.append(f"{trigger} as {event.column}")
                continue
            earlier = (f"coalesce(sum(case when {trigger} then 1 else 0 end) over ({SERIES} rows between "
                       f"{event.cooldown_bars} preceding and 1 preceding), 0)")
            columns.append(f"case when {trigger} is null then null when not {trigger} then false "
                           f"else {earlier} = 0 end as {event.column}")
        return "select\n        " + ",\n        ".join(columns) + "\n    from triggers"

    def _final_sql(self, events: list[EventDef]) -> str:
        records = [f"case when {event.column} then {self._record_sql(event)} end" for event in events]
        any_fired = " or ".join(event.column for event in events) or "false"
        fired = (f"case when {any_fired} then list_filter([\n            "
                 + ",\n            ".join(records) + "\n        ], lambda record: record is not null) end as fired_events")
        columns = ["symbol", "ts", "available_at", "is_gap", *(event.column for event in events), fired]
        return "select\n        " + ",\n        ".join(columns) + "\n    from flags"

    def _record_sql(self, event: EventDef) -> str:
        if event.direction_tree is None:
            direction = literal(event.direction)
        else:
            value = _hidden(event, "dir")
            direction = f"(case when {value} > 0 then 'up' when {value} < 0 then 'down' else 'none' end)"
        score = _hidden(event, "score")
        branches = " ".join(f"when {score} >= {bucket.min!r} then {literal(bucket.name)}"
                            for bucket in reversed(event.buckets))
        severity = f"(case when {score} is null then null {branches} else {literal(event.buckets[0].name)} end)"
        if event.attributes:
            pairs = ", ".join(f"{literal(name)}, {name}" for name in event.attributes)
            attributes = f"cast(json_object({pairs}) as varchar)"
        else:
            attributes = "'{}'"
        return ("{" + f"'event_type': {literal(event.name)}, 'family': {literal(event.family)}, "
                f"'direction': {direction}, 'severity': {severity}, 'severity_score': {score}, "
                f"'attributes': {attributes}" + "}")


def compile_events(catalog: EventCatalog, bar_interval_minutes: int = 5) -> dict[str, Any]:
    """The SQL plan of int_events__detected and fct_event_coverage, and the event summaries."""
    features = dict(catalog.features)
    features.update(_hidden_features(catalog))
    planner = EventPlanner(FeatureCatalog(catalog.root, features, {}, bar_interval_minutes), EVENTS_BLOCK,
                           events=catalog)
    if not catalog.events:
        plan: dict[str, Any] = {"block": EVENTS_BLOCK, "model": DETECTED_MODEL, "relations": {}, "sql": "", "feature_columns": [],
                                "bar_columns": [], "layers": 0}
    else:
        plan = planner.plan()
    plan["coverage_sql"] = coverage_sql(catalog) if catalog.events else ""
    plan["coverage_relations"] = {relation_placeholder(m): m for m in (DETECTED_MODEL, FEATURES_MODEL, BARS_MODEL)}
    plan["events"] = [event_summary(catalog, event) for event in catalog.events.values()]
    return plan


def coverage_sql(catalog: EventCatalog) -> str:
    """Per event x symbol x month: bars, evaluable bars, events, the inputs never known there, and a
    status (evaluable / partial / not_evaluable) with the reason."""
    bars = {name for name, column in input_columns().items() if column.relation == BARS}
    events = list(catalog.events.values())
    inputs = list(dict.fromkeys(name for event in events for name in event.inputs))
    feature_inputs = [name for name in inputs if name not in bars]
    bar_inputs = [name for name in inputs if name in bars and name not in ("symbol", "ts", "is_gap", "available_at")]
    month = "cast(date_trunc('month', timezone('UTC', {0}.ts)) as date)"
    input_counts = [f"{month.format('features')} as period_month",
                    "count(*) filter (where not features.is_gap) as n_bars"]
    input_counts += [f"count(features.{name}) as {name}" for name in feature_inputs]
    input_counts += [f"count(case when not features.is_gap then bars.{name} end) as {name}" for name in bar_inputs]
    imports = [
        ("detected", f"select * from {relation_placeholder(DETECTED_MODEL)}"),
        ("features", f"select symbol, ts, is_gap{''.join(', ' + n for n in feature_inputs)} "
                     f"from {relation_placeholder(FEATURES_MODEL)}"),
    ]
    joins = ""
    if bar_inputs:
        imports.append(("bars", f"select symbol, ts, {', '.join(bar_inputs)} from {relation_placeholder(BARS_MODEL)}"))
        joins = "\n    left join bars on bars.symbol = features.symbol and bars.ts = features.ts"
    counts_sql = ("select\n        features.symbol,\n        " + ",\n        ".join(input_counts)
                  + f"\n    from features{joins}\n    group by all")
    event_counts = [f"{month.format('detected')} as period_month"]
    for event in events:
        event_counts.append(f"count({event.column}) as {event.column}__evaluable")
        event_counts.append(f"count_if({event.column}) as {event.column}__events")
    event_counts_sql = "select\n        detected.symbol,\n        " + ",\n        ".join(event_counts) + \
        "\n    from detected\n    group by all"
    records = []
    for event in events:
        missing = ", ".join(f"case when input_counts.{name} = 0 then {literal(name)} end" for name in event.inputs)
        records.append("{" + f"'event_type': {literal(event.name)}, 'family': {literal(event.family)}, "
                       f"'n_evaluable_bars': event_counts.{event.column}__evaluable, "
                       f"'n_events': event_counts.{event.column}__events, "
                       f"'missing_inputs': list_filter([{missing}], lambda name: name is not null)" + "}")
    long_sql = ("select\n        input_counts.symbol,\n        input_counts.period_month,\n        input_counts.n_bars,\n"
                "        unnest([\n            " + ",\n            ".join(records) + "\n        ]) as record\n"
                "    from input_counts\n    inner join event_counts on event_counts.symbol = input_counts.symbol"
                " and event_counts.period_month = input_counts.period_month")
    final_sql = """select
        record.event_type,
        record.family,
        symbol,
        period_month,
        n_bars,
        record.n_evaluable_bars,
        record.n_events,
        case when record.n_evaluable_bars > 0 then record.n_events / record.n_evaluable_bars end as prevalence,
        case
            when record.n_evaluable_bars = 0 then 'not_evaluable'
            when record.n_evaluable_bars < n_bars then 'partial'
            else 'evaluable'
        end as coverage_status,
        record.missing_inputs,
        case
            when record.n_evaluable_bars = n_bars and n_bars > 0 then null
            when len(record.missing_inputs) > 0 then 'inputs never known in this period: ' || array_to_string(record.missing_inputs, ', ')
            when n_bars = 0 then 'no bars in this period'
            when record.n_evaluable_bars = 0 then 'inputs never known together, or windows never complete (gaps, short history)'
            else 'inputs unknown or windows incomplete on some bars (gaps, warm-up, missing side data)'
        end as coverage_reason
    from long"""
    ctes = [*imports, ("input_counts", counts_sql), ("event_counts", event_counts_sql), ("long", long_sql),
            ("final", final_sql)]
    return ("with\n\n" + ",\n\n".join(f"{name} as (\n\n    {body}\n\n)" for name, body in ctes)
            + "\n\nselect * from final\norder by event_type, symbol, period_month")


def event_summary(catalog: EventCatalog, event: EventDef) -> dict[str, Any]:
    """What dim_event_types and the discovery stages read about one event."""
    templates = catalog.event_templates.get(event.name, ())
    return {
        "event_type": event.name, "column": event.column, "family": event.family, "canonical": event.canonical,
        "rationale": event.rationale, "inputs": list(event.inputs), "parameters": event.parameters,
        "detection": event.detection, "direction": event.direction, "severity_score": event.severity_score,
        "severity_buckets": [{"name": b.name, "min": b.min} for b in event.buckets],
        "cooldown_bars": event.cooldown_bars, "prevalence_min": event.prevalence_min,
        "prevalence_max": event.prevalence_max, "attributes": list(event.attributes),
        "lookback_bars": event.lookback_bars, "own_lookback_bars": event.own_lookback_bars, "file": Path(event.file).name,
        "rule_templates": list(templates),
        "template_verbs": [catalog.rule_templates[t].verb for t in templates],
        "horizons_bars": list(catalog.event_horizons.get(event.name, ())),
    }


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def event_plan_json(root: Path | None = None) -> str:
    """SQL entry point: the compiled event plan, read fresh from spec/."""
    from python_udfs.feature_spec import load_catalog

    catalog = load_event_catalog(root)
    return _dumps(compile_events(catalog, load_catalog(root).bar_interval_minutes))


def event_catalog_json(root: Path | None = None) -> str:
    """SQL entry point: every event's definition and multiplicity setup (no SQL)."""
    catalog = load_event_catalog(root)
    return _dumps({"events": [event_summary(catalog, e) for e in catalog.events.values()],
                   "rule_templates": {name: {"verb": t.verb, "side": t.side} for name, t in catalog.rule_templates.items()},
                   "bh_grouping": list(catalog.bh_grouping), "shrinkage_levels": list(catalog.shrinkage_levels),
                   "families": [{"family": f.name, "description": f.description, "mechanism": f.mechanism,
                                 "rule_templates": list(f.rule_templates), "horizons_bars": list(f.horizons_bars)}
                                for f in catalog.families.values()]})
