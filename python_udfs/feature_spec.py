"""Validation of spec/features/<block>.yaml and spec/states/<state>.yaml into typed catalogs.

Every error names the file, the key and the reason (SpecError), e.g.
`spec/features/volatility.yaml: features[3] (rv_2016).lookback_bars: is 2000 but the formula reads
2016 bars before the current one`. Importing this module registers the validators of the
`features` and `states` sections with the spec registry, so `load_spec()` (and with it every
`spec_json()` call, `feature_plan_json()` and the PIT linter) refuses an invalid spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from python_udfs.feature_inputs import BOOLEAN, NUMBER, InputColumn, input_columns
from python_udfs.feature_vocabulary import (
    NAME_PATTERN,
    FormulaError,
    Node,
    analyze,
    contains_window,
    parse_formula,
    references,
)
from python_udfs.spec_registry import SpecError, load_tree, register_validator

BLOCKS: tuple[str, ...] = ("returns", "volatility", "volume", "microstructure", "funding", "basis", "positioning",
                           "liquidations", "trend", "cross_section", "context")
"""Feature blocks in build order: a feature may use features of its own block or of earlier ones.
Each block is the model models/intermediate/features/int_features__<block>.sql (the same list is in
macros/features/feature_blocks.sql)."""

FEATURE_KEYS = ("name", "formula", "inputs", "lookback_bars", "unit", "pit", "description")
BLOCK_KEYS = {"features", "description"}
STATE_KEYS = ("name", "description", "inputs", "cases")
STATE_OPTIONAL_KEYS = ("default",)
CASE_KEYS = ("when", "value")
RESERVED_PREFIXES = ("cal_", "__")


@dataclass(frozen=True)
class FeatureDef:
    """One validated feature: where it is declared, its parsed formula, type and lookback."""

    name: str
    block: str
    file: str
    formula: str
    tree: Node
    inputs: tuple[str, ...]
    lookback_bars: int
    unit: str
    pit: str
    description: str
    type: str


@dataclass(frozen=True)
class StateCase:
    when: str
    tree: Node
    value: str


@dataclass(frozen=True)
class StateDef:
    """One validated market state: a CASE over features, NULL when any input is NULL."""

    name: str
    file: str
    description: str
    inputs: tuple[str, ...]
    cases: tuple[StateCase, ...]
    default: str | None

    @property
    def labels(self) -> tuple[str, ...]:
        values = [case.value for case in self.cases] + ([self.default] if self.default else [])
        return tuple(dict.fromkeys(values))


def _where(file: Path, key: str) -> str:
    return f"{file}: {key}"


def _fail(file: Path, key: str, reason: str) -> SpecError:
    return SpecError(f"{_where(file, key)}: {reason}")


def _text(file: Path, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(file, key, f"must be a non-empty string, got {value!r}")
    return value.strip()


def _name(file: Path, key: str, value: Any) -> str:
    name = _text(file, key, value)
    if not NAME_PATTERN.match(name):
        raise _fail(file, key, f"'{name}' must be lowercase letters, digits and _ (starting with a letter)")
    if name.startswith(RESERVED_PREFIXES):
        raise _fail(file, key, f"'{name}' uses a reserved prefix ({', '.join(RESERVED_PREFIXES)})")
    return name


def _name_list(file: Path, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise _fail(file, key, f"must be a non-empty list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise _fail(file, key, "lists a name twice")
    return tuple(value)


def _check_keys(file: Path, key: str, entry: Any, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> None:
    if not isinstance(entry, dict):
        raise _fail(file, key, f"must be a mapping with keys {', '.join(required)}, got {type(entry).__name__}")
    unknown = sorted(set(entry) - set(required) - set(optional))
    if unknown:
        raise _fail(file, key, f"unknown key(s) {', '.join(map(str, unknown))} (allowed: {', '.join(required + optional)})")
    missing = [name for name in required if name not in entry]
    if missing:
        raise _fail(file, key, f"missing key(s) {', '.join(missing)}")


def _check_inputs(file: Path, key: str, declared: tuple[str, ...], used: set[str]) -> None:
    """`inputs` must list exactly the names the formula (or the state's conditions) use."""
    undeclared = sorted(used - set(declared))
    if undeclared:
        raise _fail(file, key, f"the formula uses {', '.join(undeclared)} but inputs does not list it")
    unused = [name for name in declared if name not in used]
    if unused:
        raise _fail(file, key, f"lists {', '.join(unused)} but the formula does not use it")


@dataclass
class _Raw:
    name: str
    block: str
    file: Path
    key: str
    entry: dict[str, Any]
    tree: Node
    inputs: tuple[str, ...]


def _read_blocks(tree: dict[str, Any], folder: Path) -> list[_Raw]:
    raws: list[_Raw] = []
    unknown = sorted(set(tree) - set(BLOCKS))
    if unknown:
        raise _fail(folder / f"{unknown[0]}.yaml", "file",
                    f"unknown feature block '{unknown[0]}' (blocks: {', '.join(BLOCKS)}); a new block also needs "
                    f"its model models/intermediate/features/int_features__<block>.sql")
    for block in BLOCKS:
        if block not in tree:
            continue
        file = folder / f"{block}.yaml"
        content = tree[block]
        if not isinstance(content, dict):
            raise _fail(file, "file", "must be a mapping with a 'features' list")
        extra = sorted(set(content) - BLOCK_KEYS)
        if extra:
            raise _fail(file, extra[0], f"unknown key (allowed: {', '.join(sorted(BLOCK_KEYS))})")
        entries = content.get("features")
        if not isinstance(entries, list):
            raise _fail(file, "features", f"must be a list of feature entries, got {type(entries).__name__}")
        for index, entry in enumerate(entries):
            key = f"features[{index}]"
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                key = f"{key} ({entry['name']})"
            _check_keys(file, key, entry, FEATURE_KEYS)
            name = _name(file, f"{key}.name", entry["name"])
            try:
                formula_tree = parse_formula(entry["formula"])
            except FormulaError as exc:
                raise _fail(file, f"{key}.formula", str(exc)) from exc
            inputs = _name_list(file, f"{key}.inputs", entry["inputs"])
            lookback = entry["lookback_bars"]
            if not isinstance(lookback, int) or isinstance(lookback, bool) or lookback < 0:
                raise _fail(file, f"{key}.lookback_bars", f"must be an integer >= 0, got {lookback!r}")
            for text_key in ("unit", "pit", "description"):
                _text(file, f"{key}.{text_key}", entry[text_key])
            raws.append(_Raw(name, block, file, key, entry, formula_tree, inputs))
    return raws


def _ordered(raws: list[_Raw], inputs: dict[str, InputColumn]) -> list[_Raw]:
    """Features in build order: blocks in BLOCKS order, within a block dependencies first (file
    order otherwise). Refuses unknown names, references to later blocks and cycles."""
    by_name: dict[str, _Raw] = {}
    for raw in raws:
        if raw.name in inputs:
            raise _fail(raw.file, f"{raw.key}.name", f"'{raw.name}' is already a column of fct_bars or the calendar")
        if raw.name in by_name:
            first = by_name[raw.name]
            raise _fail(raw.file, f"{raw.key}.name", f"duplicate feature name, first declared in {first.file} {first.key}")
        by_name[raw.name] = raw
    block_index = {block: i for i, block in enumerate(BLOCKS)}
    for raw in raws:
        used = references(raw.tree)
        for name in sorted(used):
            if name in inputs:
                continue
            target = by_name.get(name)
            if target is None:
                raise _fail(raw.file, f"{raw.key}.formula", f"unknown column or feature '{name}'")
            if block_index[target.block] > block_index[raw.block]:
                raise _fail(raw.file, f"{raw.key}.formula",
                            f"uses feature '{name}' of block '{target.block}', which builds after '{raw.block}' "
                            f"(block order: {', '.join(BLOCKS)})")
        _check_inputs(raw.file, f"{raw.key}.inputs", raw.inputs, used)
    ordered: list[_Raw] = []
    state: dict[str, str] = {}

    def visit(raw: _Raw, path: list[str]) -> None:
        if state.get(raw.name) == "done":
            return
        if state.get(raw.name) == "active":
            cycle = " -> ".join(path[path.index(raw.name):] + [raw.name])
            raise _fail(raw.file, f"{raw.key}.formula", f"circular dependency: {cycle}")
        state[raw.name] = "active"
        for name in sorted(references(raw.tree)):
            dependency = by_name.get(name)
            if dependency is not None and dependency.block == raw.block:
                visit(dependency, path + [raw.name])
        state[raw.name] = "done"
        ordered.append(raw)

    for block in BLOCKS:
        for raw in raws:
            if raw.block == block:
                visit(raw, [])
    return ordered


def build_feature_catalog(tree: dict[str, Any], folder: Path,
                          inputs: dict[str, InputColumn] | None = None) -> dict[str, FeatureDef]:
    """Validate the `features` section (`tree[block]` = content of `folder/<block>.yaml`) and return
    the features by name in build order."""
    inputs = input_columns() if inputs is None else inputs
    ordered = _ordered(_read_blocks(tree or {}, folder), inputs)
    catalog: dict[str, FeatureDef] = {}

    def resolve(name: str) -> tuple[str, int]:
        if name in inputs:
            return inputs[name].type, 0
        feature = catalog[name]
        return feature.type, feature.lookback_bars

    for raw in ordered:
        try:
            result = analyze(raw.tree, resolve)
        except FormulaError as exc:
            raise _fail(raw.file, f"{raw.key}.formula", str(exc)) from exc
        if result.type not in (NUMBER, BOOLEAN):
            raise _fail(raw.file, f"{raw.key}.formula", f"a feature must be a number or a boolean, this is {result.type}")
        declared = raw.entry["lookback_bars"]
        if declared != result.lookback:
            raise _fail(raw.file, f"{raw.key}.lookback_bars",
                        f"is {declared} but the formula reads {result.lookback} bar(s) before the current one; "
                        f"set lookback_bars: {result.lookback}")
        catalog[raw.name] = FeatureDef(
            name=raw.name, block=raw.block, file=str(raw.file), formula=raw.entry["formula"].strip(), tree=raw.tree,
            inputs=raw.inputs, lookback_bars=declared, unit=raw.entry["unit"].strip(), pit=raw.entry["pit"].strip(),
            description=" ".join(raw.entry["description"].split()), type=result.type)
    return catalog


def build_state_catalog(tree: dict[str, Any], folder: Path, features: dict[str, FeatureDef]) -> dict[str, StateDef]:
    """Validate the `states` section (`tree[state]` = content of `folder/<state>.yaml`)."""
    states: dict[str, StateDef] = {}
    for stem in sorted(tree or {}):
        file = folder / f"{stem}.yaml"
        content = tree[stem]
        _check_keys(file, "file", content, STATE_KEYS, STATE_OPTIONAL_KEYS)
        name = _name(file, "name", content["name"])
        if name != stem:
            raise _fail(file, "name", f"'{name}' must match the file name '{stem}'")
        if name in features:
            raise _fail(file, "name", f"'{name}' is already a feature name")
        description = _text(file, "description", content["description"])
        declared = _name_list(file, "inputs", content["inputs"])
        for input_name in declared:
            if input_name not in features:
                raise _fail(file, "inputs", f"unknown feature '{input_name}' (states read features of fct_features only)")
        cases_raw = content["cases"]
        if not isinstance(cases_raw, list) or not cases_raw:
            raise _fail(file, "cases", "must be a non-empty list of {when, value}")
        cases: list[StateCase] = []
        used: set[str] = set()
        for index, case in enumerate(cases_raw):
            key = f"cases[{index}]"
            _check_keys(file, key, case, CASE_KEYS)
            try:
                condition = parse_formula(case["when"])
            except FormulaError as exc:
                raise _fail(file, f"{key}.when", str(exc)) from exc
            if contains_window(condition):
                raise _fail(file, f"{key}.when", "states are row-wise: move window functions into a feature")
            for ref in sorted(references(condition)):
                if ref not in features:
                    raise _fail(file, f"{key}.when", f"unknown feature '{ref}'")
            try:
                result = analyze(condition, lambda ref: (features[ref].type, features[ref].lookback_bars))
            except FormulaError as exc:
                raise _fail(file, f"{key}.when", str(exc)) from exc
            if result.type != BOOLEAN:
                raise _fail(file, f"{key}.when", f"must be a boolean condition, got {result.type}")
            used |= result.references
            cases.append(StateCase(case["when"].strip(), condition, _name(file, f"{key}.value", case["value"])))
        _check_inputs(file, "inputs", declared, used)
        default = content.get("default")
        if default is not None:
            default = _name(file, "default", default)
        states[name] = StateDef(name, str(file), " ".join(description.split()), declared, tuple(cases), default)
    return states


@register_validator("features")
def validate_features(tree: dict[str, Any], folder: Path) -> None:
    """Spec-registry hook: spec/features/*.yaml."""
    build_feature_catalog(tree, folder)


@register_validator("states")
def validate_states(tree: dict[str, Any], folder: Path) -> None:
    """Spec-registry hook: spec/states/*.yaml, checked against the features they read."""
    features_folder = folder.parent / "features"
    features_tree = load_tree(features_folder) if features_folder.is_dir() else {}
    build_state_catalog(tree, folder, build_feature_catalog(features_tree, features_folder))


@dataclass(frozen=True)
class FeatureCatalog:
    """The validated features (build order) and states of one spec folder."""

    root: Path
    features: dict[str, FeatureDef]
    states: dict[str, StateDef]
    bar_interval_minutes: int

    def block(self, block: str) -> list[FeatureDef]:
        return [feature for feature in self.features.values() if feature.block == block]


def load_catalog(root: Path | None = None) -> FeatureCatalog:
    """Load and validate the whole spec folder, then return its feature and state catalogs."""
    from python_udfs.spec_registry import load_spec, spec_dir

    root = root or spec_dir()
    tree = load_spec(root)
    features = build_feature_catalog(tree.get("features", {}), root / "features")
    states = build_state_catalog(tree.get("states", {}), root / "states", features)
    minutes = tree.get("global_defaults", {}).get("bar_interval_minutes", 5)
    if not isinstance(minutes, int) or isinstance(minutes, bool) or minutes <= 0:
        raise SpecError(f"{root / 'global_defaults.yaml'}: bar_interval_minutes: must be a positive integer, got {minutes!r}")
    return FeatureCatalog(root, features, states, minutes)
