"""Validation of spec/events/<EVENT>.yaml, spec/events/canonical_event_registry.yaml and
spec/multiplicity/{families,taxonomy}.yaml into a typed event catalog.

Why a separate validator: an event file is research input that compiles to SQL run over the whole
warehouse, so everything is checked before any SQL exists. Expressions go through the feature
vocabulary (python_udfs/feature_vocabulary.py: columns, literals, arithmetic, comparisons, boolean
logic and whitelisted functions; no subqueries, no file or table functions, no statements), so a
spec can never read files, attach databases or write anything. Every error is a SpecError naming the
file, the key and the reason.

Registry rule: canonical_event_registry.yaml is the authoritative list of the canonical events; a
listed event without its file (or with another family) is an error. An event file the registry does
not list is still compiled, as a non-canonical research event (`canonical = false`), so adding a
YAML file adds an event with no other change.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_udfs.feature_inputs import BARS, BOOLEAN, NUMBER, input_columns
from python_udfs.feature_spec import FeatureDef, build_feature_catalog
from python_udfs.feature_vocabulary import FormulaError, Node, analyze, parse_formula, references
from python_udfs.spec_registry import SpecError, load_tree, read_yaml, register_validator

EVENT_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
LABEL_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
PARAMETER_REF = re.compile(r"\$\{([^}]*)\}")
REGISTRY_STEM = "canonical_event_registry"

EVENT_KEYS = ("name", "family", "rationale", "inputs", "detection", "direction", "severity", "cooldown_bars",
              "prevalence")
EVENT_OPTIONAL_KEYS = ("parameters", "attributes")
PARAMETER_KEYS = ("value", "min", "max")
PARAMETER_OPTIONAL_KEYS = ("description",)
FIXED_DIRECTIONS = ("up", "down", "none")
MAX_COOLDOWN_BARS = 8064
"""Four weeks of 5-minute bars: a longer de-duplication window would hide almost every event."""

DIRECTIONAL_SIDES = ("event_direction", "against_event_direction")
FIXED_SIDES = ("long", "short")
SHRINKAGE_LEVELS = ("global", "family", "event", "state")
BH_GROUP_KEYS = ("family", "event", "template_verb", "horizon_bars", "symbol", "state")


@dataclass(frozen=True)
class SeverityBucket:
    name: str
    min: float


@dataclass(frozen=True)
class EventDef:
    """One validated event: expressions with parameters substituted, their trees and lookback."""

    name: str
    family: str
    file: str
    rationale: str
    inputs: tuple[str, ...]
    parameters: dict[str, float | int]
    detection: str
    detection_tree: Node
    direction: str
    """'up', 'down', 'none', or the numeric expression whose sign gives the direction."""
    direction_tree: Node | None
    severity_score: str
    severity_tree: Node
    buckets: tuple[SeverityBucket, ...]
    cooldown_bars: int
    prevalence_min: float
    prevalence_max: float
    attributes: tuple[str, ...]
    lookback_bars: int
    """Bars before the event's bar that detection, direction and severity read (feature lookbacks included)."""
    own_lookback_bars: int
    """Bars before the event's bar the event's own windows (lag, rolling, ...) read over feature values.
    Features are already NULL where their windows touch a gap, so the event is masked on this one."""
    canonical: bool

    @property
    def column(self) -> str:
        """The event's column name in fct_event_flags."""
        return self.name.lower()

    @property
    def directional(self) -> bool:
        return self.direction not in ("none",)


@dataclass(frozen=True)
class RuleTemplate:
    name: str
    verb: str
    side: str


@dataclass(frozen=True)
class FamilyDef:
    name: str
    description: str
    mechanism: str
    rule_templates: tuple[str, ...]
    horizons_bars: tuple[int, ...]


@dataclass(frozen=True)
class EventCatalog:
    """Events (registry order, then the non-canonical ones by name), families and the multiplicity setup."""

    root: Path
    events: dict[str, EventDef]
    families: dict[str, FamilyDef]
    rule_templates: dict[str, RuleTemplate]
    event_templates: dict[str, tuple[str, ...]]
    event_horizons: dict[str, tuple[int, ...]]
    shrinkage_levels: tuple[str, ...]
    bh_grouping: tuple[str, ...]
    features: dict[str, FeatureDef]


def _fail(file: Path, key: str, reason: str) -> SpecError:
    return SpecError(f"{file}: {key}: {reason}")


def _mapping(file: Path, key: str, value: Any, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(file, key, f"must be a mapping with keys {', '.join(required)}, got {type(value).__name__}")
    unknown = sorted(str(k) for k in set(value) - set(required) - set(optional))
    if unknown:
        raise _fail(file, key, f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(required + optional)})")
    missing = [k for k in required if k not in value]
    if missing:
        raise _fail(file, key, f"missing key(s) {', '.join(missing)}")
    return value


def _text(file: Path, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(file, key, f"must be a non-empty string, got {value!r}")
    return " ".join(value.split())


def _number(file: Path, key: str, value: Any) -> float | int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(file, key, f"must be a number, got {value!r}")
    if value != value or value in (float("inf"), float("-inf")):
        raise _fail(file, key, f"must be finite, got {value!r}")
    return value


def _int(file: Path, key: str, value: Any, minimum: int, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(file, key, f"must be an integer, got {value!r}")
    if not minimum <= value <= maximum:
        raise _fail(file, key, f"must be between {minimum} and {maximum}, got {value}")
    return value


def _names(file: Path, key: str, value: Any, allow_empty: bool = False) -> tuple[str, ...]:
    if value is None and allow_empty:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value) or (not value and not allow_empty):
        raise _fail(file, key, f"must be a {'' if allow_empty else 'non-empty '}list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise _fail(file, key, "lists a name twice")
    return tuple(value)


# --------------------------------------------------------------------------------------------------
# Parameters and expressions
# --------------------------------------------------------------------------------------------------

def _parameters(file: Path, raw: Any) -> dict[str, float | int]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise _fail(file, "parameters", f"must be a mapping name -> {{value, min, max}}, got {type(raw).__name__}")
    values: dict[str, float | int] = {}
    for name, entry in raw.items():
        key = f"parameters.{name}"
        if not isinstance(name, str) or not LABEL_NAME.match(name):
            raise _fail(file, key, "a parameter name must be lowercase letters, digits and _")
        _mapping(file, key, entry, PARAMETER_KEYS, PARAMETER_OPTIONAL_KEYS)
        value = _number(file, f"{key}.value", entry["value"])
        low = _number(file, f"{key}.min", entry["min"])
        high = _number(file, f"{key}.max", entry["max"])
        if not low <= high:
            raise _fail(file, key, f"min ({low}) must not exceed max ({high})")
        if not low <= value <= high:
            raise _fail(file, f"{key}.value", f"{value} is out of range [{low}, {high}]")
        values[name] = value
    return values


def _substitute(file: Path, key: str, text: str, parameters: dict[str, float | int], used: set[str]) -> str:
    """Replace `${name}` with the parameter's literal value (numbers only, so nothing else can be
    smuggled into the SQL through a parameter)."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name not in parameters:
            known = ", ".join(sorted(parameters)) or "none declared"
            raise _fail(file, key, f"${{{name}}} is not a declared parameter (parameters: {known})")
        used.add(name)
        value = parameters[name]
        return repr(value) if isinstance(value, float) else str(value)

    return PARAMETER_REF.sub(replace, text)


@dataclass
class _Resolver:
    """Types and lookbacks of the names an event may read: fct_bars columns and features. With
    `own` set, features count as plain columns (lookback 0)."""

    file: Path
    features: dict[str, FeatureDef]
    bars: dict[str, Any]
    own: bool = False

    def __call__(self, name: str) -> tuple[str, int]:
        column = self.bars.get(name)
        if column is not None:
            return column.type, 0
        feature = self.features.get(name)
        if feature is not None:
            return feature.type, 0 if self.own else feature.lookback_bars
        raise FormulaError(f"unknown feature or fct_bars column '{name}'")

    def check_name(self, key: str, name: str) -> None:
        if name not in self.bars and name not in self.features:
            hint = " (calendar columns are read through the context features)" if name.startswith("cal_") else ""
            raise _fail(self.file, key, f"unknown feature or fct_bars column '{name}'{hint}")


def _expression(file: Path, key: str, raw: Any, parameters: dict[str, float | int], used: set[str],
                resolve: _Resolver, wanted: str) -> tuple[str, Node, tuple[int, int]]:
    text = _text(file, key, raw)
    text = _substitute(file, key, text, parameters, used)
    try:
        tree = parse_formula(text)
        for name in sorted(references(tree)):
            resolve.check_name(key, name)
        result = analyze(tree, resolve)
        own = analyze(tree, _Resolver(resolve.file, resolve.features, resolve.bars, own=True)).lookback
    except FormulaError as exc:
        raise _fail(file, key, str(exc)) from exc
    if result.type != wanted:
        raise _fail(file, key, f"must be a {wanted} expression, got {result.type}")
    return text, tree, (result.lookback, own)


# --------------------------------------------------------------------------------------------------
# One event file
# --------------------------------------------------------------------------------------------------

def build_event(stem: str, content: Any, file: Path, resolve: _Resolver, families: dict[str, FamilyDef],
                canonical: bool) -> EventDef:
    entry = _mapping(file, "file", content, EVENT_KEYS, EVENT_OPTIONAL_KEYS)
    name = _text(file, "name", entry["name"])
    if not EVENT_NAME.match(name):
        raise _fail(file, "name", f"'{name}' must be UPPER_SNAKE_CASE (letters, digits and _)")
    if name != stem:
        raise _fail(file, "name", f"'{name}' must match the file name '{stem}'")
    family = _text(file, "family", entry["family"])
    if family not in families:
        raise _fail(file, "family", f"unknown family '{family}' (spec/multiplicity/families.yaml: "
                                    f"{', '.join(sorted(families))})")
    parameters = _parameters(file, entry.get("parameters"))
    used: set[str] = set()
    detection, detection_tree, lookback = _expression(file, "detection", entry["detection"], parameters, used,
                                                      resolve, BOOLEAN)
    lookbacks = [lookback]
    direction_raw = entry["direction"]
    direction_tree: Node | None = None
    if isinstance(direction_raw, str) and direction_raw.strip() in FIXED_DIRECTIONS:
        direction = direction_raw.strip()
    else:
        direction, direction_tree, lookback = _expression(file, "direction", direction_raw, parameters, used,
                                                          resolve, NUMBER)
        lookbacks.append(lookback)
    severity = _mapping(file, "severity", entry["severity"], ("score", "buckets"))
    score, score_tree, lookback = _expression(file, "severity.score", severity["score"], parameters, used,
                                              resolve, NUMBER)
    lookbacks.append(lookback)
    buckets = _buckets(file, severity["buckets"])
    unused = sorted(set(parameters) - used)
    if unused:
        raise _fail(file, f"parameters.{unused[0]}", "is declared but no expression uses it (${" + unused[0] + "})")
    referenced = references(detection_tree) | references(score_tree)
    if direction_tree is not None:
        referenced |= references(direction_tree)
    inputs = _names(file, "inputs", entry["inputs"])
    missing = sorted(referenced - set(inputs))
    if missing:
        raise _fail(file, "inputs", f"the expressions read {', '.join(missing)} but inputs does not list it")
    extra = [item for item in inputs if item not in referenced]
    if extra:
        raise _fail(file, "inputs", f"lists {', '.join(extra)} but no expression reads it")
    attributes = _names(file, "attributes", entry.get("attributes"), allow_empty=True)
    for index, attribute in enumerate(attributes):
        resolve.check_name(f"attributes[{index}]", attribute)
    cooldown = _int(file, "cooldown_bars", entry["cooldown_bars"], 0, MAX_COOLDOWN_BARS)
    prevalence = _mapping(file, "prevalence", entry["prevalence"], ("min", "max"))
    low = _number(file, "prevalence.min", prevalence["min"])
    high = _number(file, "prevalence.max", prevalence["max"])
    if not 0 <= low < high <= 1:
        raise _fail(file, "prevalence", f"needs 0 <= min < max <= 1 (a share of evaluable bars), got {low}..{high}")
    return EventDef(
        name=name, family=family, file=str(file), rationale=_text(file, "rationale", entry["rationale"]),
        inputs=inputs, parameters=parameters, detection=detection, detection_tree=detection_tree,
        direction=direction, direction_tree=direction_tree, severity_score=score, severity_tree=score_tree,
        buckets=buckets, cooldown_bars=cooldown, prevalence_min=float(low), prevalence_max=float(high),
        attributes=attributes, lookback_bars=max(total for total, _ in lookbacks),
        own_lookback_bars=max(own for _, own in lookbacks), canonical=canonical)


def _buckets(file: Path, raw: Any) -> tuple[SeverityBucket, ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(file, "severity.buckets", "must be a non-empty list of {name, min}")
    buckets: list[SeverityBucket] = []
    for index, item in enumerate(raw):
        key = f"severity.buckets[{index}]"
        _mapping(file, key, item, ("name", "min"))
        label = _text(file, f"{key}.name", item["name"])
        if not LABEL_NAME.match(label):
            raise _fail(file, f"{key}.name", f"'{label}' must be lowercase letters, digits and _")
        if label == "all":
            raise _fail(file, f"{key}.name", "'all' is reserved (phase 1 reports every severity together as 'all')")
        bound = float(_number(file, f"{key}.min", item["min"]))
        if buckets and bound <= buckets[-1].min:
            raise _fail(file, f"{key}.min", f"{bound} must be greater than the previous bucket's min ({buckets[-1].min})")
        if any(bucket.name == label for bucket in buckets):
            raise _fail(file, f"{key}.name", f"duplicate bucket '{label}'")
        buckets.append(SeverityBucket(label, bound))
    return tuple(buckets)


# --------------------------------------------------------------------------------------------------
# Multiplicity: rule templates, families, taxonomy
# --------------------------------------------------------------------------------------------------

def _rule_templates(tree: dict[str, Any], root: Path) -> tuple[dict[str, RuleTemplate], tuple[int, ...]]:
    file = root / "global_defaults.yaml"
    discovery = tree.get("global_defaults", {}).get("discovery")
    if discovery is None:
        return {}, ()
    if not isinstance(discovery, dict):
        raise _fail(file, "discovery", "must be a mapping")
    horizons_raw = discovery.get("horizons_bars")
    if not isinstance(horizons_raw, list) or not horizons_raw:
        raise _fail(file, "discovery.horizons_bars", f"must be a non-empty list of bar counts, got {horizons_raw!r}")
    horizons = tuple(_int(file, f"discovery.horizons_bars[{i}]", h, 1, 8064) for i, h in enumerate(horizons_raw))
    if len(set(horizons)) != len(horizons):
        raise _fail(file, "discovery.horizons_bars", "lists a horizon twice")
    # Entry at the open of the bar after the event at the earliest: a lag of 0 would trade on the
    # event bar's own open, before the event is known.
    lag = _int(file, "discovery.entry_lag_bars", discovery.get("entry_lag_bars"), 1, 288)
    _evaluation_windows(file, discovery.get("evaluation_windows"), lag + max(horizons))
    raw = discovery.get("rule_templates")
    if not isinstance(raw, dict) or not raw:
        raise _fail(file, "discovery.rule_templates", "must be a mapping name -> {verb, side}")
    templates: dict[str, RuleTemplate] = {}
    for name, entry in raw.items():
        key = f"discovery.rule_templates.{name}"
        _mapping(file, key, entry, ("verb", "side"))
        verb = _text(file, f"{key}.verb", entry["verb"])
        side = _text(file, f"{key}.side", entry["side"])
        if side not in DIRECTIONAL_SIDES + FIXED_SIDES:
            raise _fail(file, f"{key}.side", f"'{side}' is not one of {', '.join(DIRECTIONAL_SIDES + FIXED_SIDES)}")
        templates[str(name)] = RuleTemplate(str(name), verb, side)
    return templates, horizons


def _evaluation_windows(file: Path, raw: Any, longest_label_bars: int) -> None:
    """discovery.evaluation_windows: the holdout share and the embargo between the windows. The
    embargo must cover entry lag + the longest horizon, so no discovery label reaches a holdout bar."""
    key = "discovery.evaluation_windows"
    windows = _mapping(file, key, raw, ("holdout_fraction", "embargo_bars"))
    fraction = _number(file, f"{key}.holdout_fraction", windows["holdout_fraction"])
    if not 0.05 <= fraction <= 0.9:
        raise _fail(file, f"{key}.holdout_fraction", f"{fraction} is out of range [0.05, 0.9]")
    _int(file, f"{key}.embargo_bars", windows["embargo_bars"], longest_label_bars, 100_000)


def _families(tree: dict[str, Any], root: Path, templates: dict[str, RuleTemplate],
              horizons: tuple[int, ...]) -> tuple[dict[str, FamilyDef], dict[str, Any], tuple[str, ...], tuple[str, ...]]:
    folder = root / "multiplicity"
    multiplicity = tree.get("multiplicity", {})
    families_file, taxonomy_file = folder / "families.yaml", folder / "taxonomy.yaml"
    families_raw = _mapping(families_file, "file", multiplicity.get("families", {}), ("families",),
                            ("description", "events"))
    taxonomy = _mapping(taxonomy_file, "file", multiplicity.get("taxonomy", {}),
                        ("shrinkage_levels", "bh_grouping", "families"), ("description",))
    levels = _names(taxonomy_file, "shrinkage_levels", taxonomy["shrinkage_levels"])
    if levels != SHRINKAGE_LEVELS:
        raise _fail(taxonomy_file, "shrinkage_levels", f"must be {list(SHRINKAGE_LEVELS)} (the pooling the "
                                                       f"discovery stage implements), got {list(levels)}")
    grouping = _names(taxonomy_file, "bh_grouping", taxonomy["bh_grouping"])
    unknown = [key for key in grouping if key not in BH_GROUP_KEYS]
    if unknown:
        raise _fail(taxonomy_file, "bh_grouping", f"unknown key(s) {', '.join(unknown)} (allowed: {', '.join(BH_GROUP_KEYS)})")
    mechanisms = taxonomy["families"]
    if not isinstance(mechanisms, dict):
        raise _fail(taxonomy_file, "families", "must be a mapping family -> {mechanism}")
    entries = families_raw["families"]
    if not isinstance(entries, dict) or not entries:
        raise _fail(families_file, "families", "must be a non-empty mapping family -> {description, rule_templates, horizons_bars}")
    families: dict[str, FamilyDef] = {}
    for name, entry in entries.items():
        key = f"families.{name}"
        if not isinstance(name, str) or not EVENT_NAME.match(name):
            raise _fail(families_file, key, "a family name must be UPPER_SNAKE_CASE")
        _mapping(families_file, key, entry, ("description", "rule_templates", "horizons_bars"))
        chosen = _template_list(families_file, f"{key}.rule_templates", entry["rule_templates"], templates)
        spans = _horizon_list(families_file, f"{key}.horizons_bars", entry["horizons_bars"], horizons)
        if name not in mechanisms:
            raise _fail(taxonomy_file, "families", f"family '{name}' (spec/multiplicity/families.yaml) is missing")
        mechanism = _mapping(taxonomy_file, f"families.{name}", mechanisms[name], ("mechanism",))
        families[name] = FamilyDef(name, _text(families_file, f"{key}.description", entry["description"]),
                                   _text(taxonomy_file, f"families.{name}.mechanism", mechanism["mechanism"]),
                                   chosen, spans)
    extra = sorted(set(mechanisms) - set(families))
    if extra:
        raise _fail(taxonomy_file, f"families.{extra[0]}", "is not a family of spec/multiplicity/families.yaml")
    overrides = families_raw.get("events") or {}
    if not isinstance(overrides, dict):
        raise _fail(families_file, "events", "must be a mapping event -> {rule_templates, horizons_bars}")
    return families, overrides, levels, grouping


def _template_list(file: Path, key: str, raw: Any, templates: dict[str, RuleTemplate]) -> tuple[str, ...]:
    names = _names(file, key, raw)
    for name in names:
        if name not in templates:
            raise _fail(file, key, f"unknown rule template '{name}' (spec/global_defaults.yaml discovery.rule_templates: "
                                   f"{', '.join(templates)})")
    return names


def _horizon_list(file: Path, key: str, raw: Any, horizons: tuple[int, ...]) -> tuple[int, ...]:
    if not isinstance(raw, list) or not raw:
        raise _fail(file, key, "must be a non-empty list of horizons in bars")
    for value in raw:
        if isinstance(value, bool) or value not in horizons:
            raise _fail(file, key, f"{value!r} is not one of discovery.horizons_bars {list(horizons)} "
                                   f"(spec/global_defaults.yaml)")
    return tuple(raw)


# --------------------------------------------------------------------------------------------------
# The catalog
# --------------------------------------------------------------------------------------------------

def build_event_catalog(tree: dict[str, Any], root: Path) -> EventCatalog:
    """Validate spec/events and spec/multiplicity of the spec `tree` (loaded from `root`)."""
    features = build_feature_catalog(tree.get("features", {}), root / "features")
    events_tree = dict(tree.get("events", {}) or {})
    folder = root / "events"
    templates, horizons = _rule_templates(tree, root)
    if not events_tree and not tree.get("multiplicity"):
        return EventCatalog(root, {}, {}, templates, {}, {}, SHRINKAGE_LEVELS, (), features)
    families, overrides, levels, grouping = _families(tree, root, templates, horizons)
    registry_file = folder / f"{REGISTRY_STEM}.yaml"
    registry_raw = _mapping(registry_file, "file", events_tree.pop(REGISTRY_STEM, {}), ("events",), ("description",))
    registry = registry_raw["events"]
    if not isinstance(registry, dict):
        raise _fail(registry_file, "events", "must be a mapping EVENT -> FAMILY")
    bars = {name: column for name, column in input_columns().items() if column.relation == BARS}
    resolve = _Resolver(folder, features, bars)
    for name, family in registry.items():
        if name not in events_tree:
            raise _fail(registry_file, f"events.{name}", f"is listed but {folder / (str(name) + '.yaml')} does not exist")
        if family not in families:
            raise _fail(registry_file, f"events.{name}", f"unknown family '{family}'")
    events: dict[str, EventDef] = {}
    for stem in list(registry) + sorted(set(events_tree) - set(registry)):
        file = folder / f"{stem}.yaml"
        event = build_event(stem, events_tree[stem], file, _Resolver(file, features, bars), families,
                            canonical=stem in registry)
        if stem in registry and registry[stem] != event.family:
            raise _fail(registry_file, f"events.{stem}", f"says {registry[stem]} but {file} says {event.family}")
        if event.column in features or event.column in bars:
            raise _fail(file, "name", f"'{event.column}' collides with a feature or fct_bars column")
        events[stem] = event
    event_templates, event_horizons = _event_multiplicity(events, families, overrides, templates, horizons, root)
    return EventCatalog(root, events, families, templates, event_templates, event_horizons, levels, grouping, features)


def _event_multiplicity(events: dict[str, EventDef], families: dict[str, FamilyDef], overrides: dict[str, Any],
                        templates: dict[str, RuleTemplate], horizons: tuple[int, ...],
                        root: Path) -> tuple[dict[str, tuple[str, ...]], dict[str, tuple[int, ...]]]:
    """Rule templates and horizons per event: the family's, or the event's override; a template's
    side must suit the event (directional sides need a direction, fixed sides suit any event)."""
    file = root / "multiplicity" / "families.yaml"
    unknown = sorted(set(overrides) - set(events))
    if unknown:
        raise _fail(file, f"events.{unknown[0]}", "is not an event of spec/events")
    event_templates: dict[str, tuple[str, ...]] = {}
    event_horizons: dict[str, tuple[int, ...]] = {}
    for name, event in events.items():
        family = families[event.family]
        chosen, spans = family.rule_templates, family.horizons_bars
        if name in overrides:
            key = f"events.{name}"
            override = _mapping(file, key, overrides[name], (), ("rule_templates", "horizons_bars"))
            if "rule_templates" in override:
                chosen = _template_list(file, f"{key}.rule_templates", override["rule_templates"], templates)
            if "horizons_bars" in override:
                spans = _horizon_list(file, f"{key}.horizons_bars", override["horizons_bars"], horizons)
        for template in chosen:
            side = templates[template].side
            if side in DIRECTIONAL_SIDES and event.direction == "none":
                raise _fail(file, f"events.{name}" if name in overrides else f"families.{event.family}.rule_templates",
                            f"template '{template}' trades the event's direction but {name} has direction 'none' "
                            f"(give {name} drift templates in events.{name}.rule_templates)")
        event_templates[name] = chosen
        event_horizons[name] = spans
    return event_templates, event_horizons


def load_event_catalog(root: Path | None = None) -> EventCatalog:
    """Load and validate the whole spec folder, then return its event catalog."""
    from python_udfs.spec_registry import load_spec, spec_dir

    root = root or spec_dir()
    return build_event_catalog(load_spec(root), root)


@register_validator("events")
def validate_events(tree: dict[str, Any], folder: Path) -> None:
    """Spec-registry hook: spec/events and spec/multiplicity, against the features they read."""
    root = folder.parent
    whole = {section: load_tree(root / section) for section in ("features", "multiplicity") if (root / section).is_dir()}
    defaults = root / "global_defaults.yaml"
    if defaults.is_file():
        whole["global_defaults"] = read_yaml(defaults) or {}
    whole["events"] = tree
    build_event_catalog(whole, root)
