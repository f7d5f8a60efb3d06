"""Validation of spec/alpha/ (the alpha bundle): the cross-sectional signals of signals.yaml and the
regime filters, orthogonalisation, combination and portfolio settings of bundle.yaml.

Why a module of its own: a signal is a formula in the feature vocabulary (python_udfs/feature_vocabulary.py)
over fct_features and fct_bars columns, so it gets the features' guarantees (no look-ahead, a window
touching a gap is NULL) from the same parser and compiler; what is new here (transforms, regime
conditions over dim_states, estimation windows, portfolio variants) is range-checked key by key.
Every error names the file, the key and the reason, e.g.
`spec/alpha/signals.yaml: signals[2] (mom_xs_288).lookback_bars: is 200 but the formula reads 288 ...`.
Importing this module registers the `alpha` section's validator with the spec registry.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from python_udfs.feature_inputs import BARS, NUMBER, TEXT, input_columns
from python_udfs.feature_spec import FeatureDef, build_feature_catalog, build_state_catalog
from python_udfs.feature_vocabulary import (NAME_PATTERN, Call, Const, FormulaError, Node, Ref, analyze,
                                            contains_window, parse_formula, references)
from python_udfs.spec_registry import SpecError, canonical_json, load_spec, register_validator, spec_dir

FAMILIES = ("momentum", "reversal", "carry", "volatility", "liquidity")
TRANSFORMS = ("xs_rank", "xs_zscore", "time_series")
"""xs_rank: centred rank among the symbols with a value at the bar, (#below - #above) / (n - 1) in
[-1, 1] (ties share the average rank); xs_zscore: (x - mean) / sample std among them (0 when they
are all equal); time_series: the formula's own value (it must be scale-free, e.g. tanh(...))."""
ORTHOGONALISATION_METHODS = ("sequential", "symmetric")
WINDOWS = ("rolling", "expanding")
COMBINATION_METHODS = ("spec_weights", "inverse_volatility")
VARIANTS = ("dollar_neutral", "long_only")

SIGNAL_KEYS = ("name", "family", "formula", "inputs", "lookback_bars", "transform", "weight", "description")
SIGNALS_FILE_KEYS = ("signals",)
BUNDLE_KEYS = ("cross_section", "regime_filters", "orthogonalisation", "combination", "portfolio")
OPTIONAL_FILE_KEYS = ("description",)
ALPHA_FILES = ("signals", "bundle")


@dataclass(frozen=True)
class SignalDef:
    """One signal: its formula (compiled over fct_features), the transform that turns it into a
    score per bar, its family and its weight in the combination."""

    name: str
    family: str
    file: str
    formula: str
    tree: Node
    inputs: tuple[str, ...]
    lookback_bars: int
    """Bars before the signal's bar the formula reads, the inputs' own windows included."""
    own_lookback_bars: int
    """Bars before the bar the formula itself reads (fct_features columns counted as known at their bar)."""
    transform: str
    weight: float
    description: str


@dataclass(frozen=True)
class RegimeFilter:
    """Switch the signals of `applies_to` off (value 0) on the bars and symbols where `off_when`
    (a condition over dim_states) holds; `off_when_unknown`: whether an unknown state (NULL) counts
    as off (fail closed) or on."""

    name: str
    applies_to: tuple[str, ...]
    """Signal names (families expanded)."""
    off_when: str
    tree: Node
    inputs: tuple[str, ...]
    off_when_unknown: bool
    description: str


@dataclass(frozen=True)
class Orthogonalisation:
    """Residualise each signal's score on the factor exposures (fct_features columns) and on the
    other signals, by OLS over the (symbol, bar) rows of an estimation window ending at the bar."""

    factors: tuple[str, ...]
    intercept: bool
    method: str
    window: str
    estimation_window_bars: int
    min_observations: int


@dataclass(frozen=True)
class Combination:
    method: str
    volatility_window_bars: int
    min_observations: int


@dataclass(frozen=True)
class Portfolio:
    variants: tuple[str, ...]
    gross_leverage: float
    max_symbol_weight: float
    rebalance_every_bars: int
    execution_lag_bars: int


@dataclass(frozen=True)
class AlphaSpec:
    root: Path
    signals: tuple[SignalDef, ...]
    min_symbols: int
    regime_filters: tuple[RegimeFilter, ...]
    orthogonalisation: Orthogonalisation
    combination: Combination
    portfolio: Portfolio

    def signal(self, name: str) -> SignalDef:
        return next(s for s in self.signals if s.name == name)

    def filters_of(self, name: str) -> tuple[RegimeFilter, ...]:
        return tuple(f for f in self.regime_filters if name in f.applies_to)


# --------------------------------------------------------------------------------------------------
# Small checks (each error names the file and the key)
# --------------------------------------------------------------------------------------------------

def _fail(file: Path, key: str, reason: str) -> SpecError:
    return SpecError(f"{file}: {key}: {reason}")


def _mapping(file: Path, key: str, value: Any, required: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _fail(file, key, f"must be a mapping with {', '.join(required)}, got {type(value).__name__}")
    unknown = sorted(set(value) - set(required) - set(optional), key=str)
    if unknown:
        raise _fail(file, f"{key}.{unknown[0]}" if key != "file" else str(unknown[0]),
                    f"unknown key (allowed: {', '.join((*required, *optional))})")
    missing = [name for name in required if name not in value]
    if missing:
        raise _fail(file, f"{key}.{missing[0]}" if key != "file" else missing[0], "is missing")
    return value


def _text(file: Path, key: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(file, key, f"must be a non-empty string, got {value!r}")
    return " ".join(value.split())


def _choice(file: Path, key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise _fail(file, key, f"must be one of {', '.join(allowed)}, got {value!r}")
    return str(value)


def _integer(file: Path, key: str, value: Any, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(file, key, f"must be an integer in [{low}, {high}], got {value!r}")
    return value


def _number(file: Path, key: str, value: Any, low: float, high: float, open_low: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(file, key, f"must be a number, got {value!r}")
    if not (low < value if open_low else low <= value) or value > high:
        raise _fail(file, key, f"must be a number in {'(' if open_low else '['}{low}, {high}], got {value!r}")
    return float(value)


def _boolean(file: Path, key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise _fail(file, key, f"must be true or false, got {value!r}")
    return value


def _names(file: Path, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(item, str) for item in value):
        raise _fail(file, key, f"must be a non-empty list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise _fail(file, key, "lists a name twice")
    return tuple(value)


# --------------------------------------------------------------------------------------------------
# signals.yaml
# --------------------------------------------------------------------------------------------------

class _Resolver:
    """Types and lookbacks of what a signal may read: fct_bars columns (lookback 0) and features
    (their own lookback, or 0 with `own`: fct_features already masks its windows)."""

    def __init__(self, features: dict[str, FeatureDef], bars: dict[str, Any], own: bool) -> None:
        self.features, self.bars, self.own = features, bars, own

    def __call__(self, name: str) -> tuple[str, int]:
        column = self.bars.get(name)
        if column is not None:
            return column.type, 0
        feature = self.features.get(name)
        if feature is not None:
            return feature.type, 0 if self.own else feature.lookback_bars
        hint = " (calendar columns are read through the context features)" if name.startswith("cal_") else ""
        raise FormulaError(f"unknown feature or fct_bars column '{name}'{hint}")


def build_signals(content: Any, file: Path, features: dict[str, FeatureDef], bars: dict[str, Any]) -> tuple[SignalDef, ...]:
    body = _mapping(file, "file", content, SIGNALS_FILE_KEYS, OPTIONAL_FILE_KEYS)
    entries = body["signals"]
    if not isinstance(entries, list) or not entries:
        raise _fail(file, "signals", "must be a non-empty list of signal entries")
    total, own = _Resolver(features, bars, own=False), _Resolver(features, bars, own=True)
    signals: list[SignalDef] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        key = f"signals[{index}]"
        if isinstance(entry, dict) and isinstance(entry.get("name"), str):
            key = f"{key} ({entry['name']})"
        entry = _mapping(file, key, entry, SIGNAL_KEYS)
        name = _text(file, f"{key}.name", entry["name"])
        if not NAME_PATTERN.match(name) or name.startswith("__"):
            raise _fail(file, f"{key}.name", f"'{name}' must be lowercase letters, digits and _ (starting with a letter)")
        if name in seen:
            raise _fail(file, f"{key}.name", f"duplicate signal name '{name}'")
        if name in features or name in bars:
            raise _fail(file, f"{key}.name", f"'{name}' is already a feature or fct_bars column")
        seen.add(name)
        formula = _text(file, f"{key}.formula", entry["formula"])
        inputs = _names(file, f"{key}.inputs", entry["inputs"])
        try:
            tree = parse_formula(formula)
            result = analyze(tree, total)
            own_lookback = analyze(tree, own).lookback
        except FormulaError as exc:
            raise _fail(file, f"{key}.formula", str(exc)) from exc
        if result.type != NUMBER:
            raise _fail(file, f"{key}.formula", f"a signal must be a number, this is {result.type}")
        used = references(tree)
        undeclared = sorted(used - set(inputs))
        if undeclared:
            raise _fail(file, f"{key}.inputs", f"the formula uses {', '.join(undeclared)} but inputs does not list it")
        unused = [n for n in inputs if n not in used]
        if unused:
            raise _fail(file, f"{key}.inputs", f"lists {', '.join(unused)} but the formula does not use it")
        lookback = entry["lookback_bars"]
        if isinstance(lookback, bool) or not isinstance(lookback, int) or lookback != result.lookback:
            raise _fail(file, f"{key}.lookback_bars", f"is {lookback!r} but the formula reads {result.lookback} bar(s) "
                        f"before the current one (its inputs' windows included); set lookback_bars: {result.lookback}")
        signals.append(SignalDef(
            name=name, family=_choice(file, f"{key}.family", entry["family"], FAMILIES), file=str(file),
            formula=formula, tree=tree, inputs=inputs, lookback_bars=lookback, own_lookback_bars=own_lookback,
            transform=_choice(file, f"{key}.transform", entry["transform"], TRANSFORMS),
            weight=_number(file, f"{key}.weight", entry["weight"], 0.0, 100.0, open_low=True),
            description=_text(file, f"{key}.description", entry["description"])))
    return tuple(signals)


# --------------------------------------------------------------------------------------------------
# bundle.yaml
# --------------------------------------------------------------------------------------------------

def _labels_compared(node: Node) -> list[tuple[str, str]]:
    """(state, label) pairs a condition compares with `=`, `<>` or IN: checked against the labels."""
    pairs: list[tuple[str, str]] = []
    if isinstance(node, Call):
        if node.fn in ("=", "<>", "in") and isinstance(node.args[0], Ref):
            pairs += [(node.args[0].name, str(arg.value)) for arg in node.args[1:]
                      if isinstance(arg, Const) and isinstance(arg.value, str)]
        for arg in node.args:
            pairs += _labels_compared(arg)
    return pairs


def _regime_filter(file: Path, key: str, raw: Any, signals: tuple[SignalDef, ...],
                   states: dict[str, tuple[str, ...]]) -> RegimeFilter:
    entry = _mapping(file, key, raw, ("name", "applies_to", "off_when", "off_when_unknown", "description"))
    name = _text(file, f"{key}.name", entry["name"])
    if not NAME_PATTERN.match(name):
        raise _fail(file, f"{key}.name", f"'{name}' must be lowercase letters, digits and _")
    targets: list[str] = []
    for item in _names(file, f"{key}.applies_to", entry["applies_to"]):
        matched = [s.name for s in signals if s.name == item or s.family == item]
        if not matched:
            raise _fail(file, f"{key}.applies_to", f"'{item}' is neither a signal of signals.yaml nor a family with "
                        f"signals (families: {', '.join(FAMILIES)})")
        targets += [m for m in matched if m not in targets]
    text = _text(file, f"{key}.off_when", entry["off_when"])
    try:
        tree = parse_formula(text)
        if contains_window(tree):
            raise FormulaError("a regime condition is row-wise over dim_states: no window or cross-section functions")
        unknown = sorted(references(tree) - set(states))
        if unknown:
            raise FormulaError(f"unknown state '{unknown[0]}' (dim_states columns: {', '.join(sorted(states))})")
        result = analyze(tree, lambda ref: (TEXT, 0))
    except FormulaError as exc:
        raise _fail(file, f"{key}.off_when", str(exc)) from exc
    if result.type != "boolean":
        raise _fail(file, f"{key}.off_when", f"must be a boolean condition, got {result.type}")
    for state, label in _labels_compared(tree):
        if label not in states[state]:
            raise _fail(file, f"{key}.off_when", f"'{label}' is not a value of {state} (values: {', '.join(states[state])})")
    return RegimeFilter(name, tuple(targets), text, tree, tuple(sorted(references(tree))),
                        _boolean(file, f"{key}.off_when_unknown", entry["off_when_unknown"]),
                        _text(file, f"{key}.description", entry["description"]))


def build_bundle(content: Any, file: Path, signals: tuple[SignalDef, ...], features: dict[str, FeatureDef],
                 states: dict[str, tuple[str, ...]]) -> AlphaSpec:
    body = _mapping(file, "file", content, BUNDLE_KEYS, OPTIONAL_FILE_KEYS)
    cross = _mapping(file, "cross_section", body["cross_section"], ("min_symbols",))
    min_symbols = _integer(file, "cross_section.min_symbols", cross["min_symbols"], 2, 10_000)
    raw_filters = body["regime_filters"]
    if not isinstance(raw_filters, list):
        raise _fail(file, "regime_filters", "must be a list (empty for none)")
    filters = tuple(_regime_filter(file, f"regime_filters[{i}]", raw, signals, states) for i, raw in enumerate(raw_filters))
    if len({f.name for f in filters}) != len(filters):
        raise _fail(file, "regime_filters", "two filters share a name")

    ortho = _mapping(file, "orthogonalisation", body["orthogonalisation"],
                     ("factors", "intercept", "method", "window", "estimation_window_bars", "min_observations"))
    factors = tuple(ortho["factors"]) if ortho["factors"] == [] else _names(file, "orthogonalisation.factors",
                                                                                ortho["factors"])
    for factor in factors:
        if factor not in features or features[factor].type != NUMBER:
            raise _fail(file, "orthogonalisation.factors", f"'{factor}' is not a numeric feature of fct_features")
    window_bars = _integer(file, "orthogonalisation.estimation_window_bars", ortho["estimation_window_bars"], 2, 10_000_000)
    orthogonalisation = Orthogonalisation(
        factors=factors, intercept=_boolean(file, "orthogonalisation.intercept", ortho["intercept"]),
        method=_choice(file, "orthogonalisation.method", ortho["method"], ORTHOGONALISATION_METHODS),
        window=_choice(file, "orthogonalisation.window", ortho["window"], WINDOWS),
        estimation_window_bars=window_bars,
        min_observations=_integer(file, "orthogonalisation.min_observations", ortho["min_observations"], 1, 10**12))
    regressors = len(factors) + int(orthogonalisation.intercept) + len(signals) - 1
    if orthogonalisation.min_observations <= regressors:
        raise _fail(file, "orthogonalisation.min_observations",
                    f"is {orthogonalisation.min_observations} but a regression has up to {regressors} regressors; "
                    f"ask for more observations (rows of symbol x bar) than regressors")

    combo = _mapping(file, "combination", body["combination"], ("method", "volatility_window_bars", "min_observations"))
    combination = Combination(
        method=_choice(file, "combination.method", combo["method"], COMBINATION_METHODS),
        volatility_window_bars=_integer(file, "combination.volatility_window_bars", combo["volatility_window_bars"], 2,
                                        10_000_000),
        min_observations=_integer(file, "combination.min_observations", combo["min_observations"], 2, 10_000_000))

    book = _mapping(file, "portfolio", body["portfolio"],
                    ("variants", "gross_leverage", "max_symbol_weight", "rebalance_every_bars", "execution_lag_bars"))
    variants = _names(file, "portfolio.variants", book["variants"])
    for variant in variants:
        _choice(file, "portfolio.variants", variant, VARIANTS)
    gross = _number(file, "portfolio.gross_leverage", book["gross_leverage"], 0.0, 10.0, open_low=True)
    portfolio = Portfolio(
        variants=variants, gross_leverage=gross,
        max_symbol_weight=_number(file, "portfolio.max_symbol_weight", book["max_symbol_weight"], 0.0, gross,
                                  open_low=True),
        rebalance_every_bars=_integer(file, "portfolio.rebalance_every_bars", book["rebalance_every_bars"], 1, 100_000),
        execution_lag_bars=_integer(file, "portfolio.execution_lag_bars", book["execution_lag_bars"], 1, 10_000))
    return AlphaSpec(file.parent, signals, min_symbols, filters, orthogonalisation, combination, portfolio)


# --------------------------------------------------------------------------------------------------
# The section
# --------------------------------------------------------------------------------------------------

def _state_labels(tree: dict[str, Any], root: Path, features: dict[str, FeatureDef]) -> dict[str, tuple[str, ...]]:
    return {name: state.labels for name, state in
            build_state_catalog(tree.get("states", {}), root / "states", features).items()}


def build_alpha_spec(tree: dict[str, Any], root: Path) -> AlphaSpec | None:
    """Validate spec/alpha/ of the spec `tree` (loaded from `root`); None when the folder is absent."""
    section = tree.get("alpha")
    if not section:
        return None
    folder = root / "alpha"
    unknown = sorted(set(section) - set(ALPHA_FILES))
    if unknown:
        raise _fail(folder / f"{unknown[0]}.yaml", "file", f"unknown file (spec/alpha/ holds {', '.join(ALPHA_FILES)}.yaml)")
    for stem in ALPHA_FILES:
        if stem not in section:
            raise _fail(folder / f"{stem}.yaml", "file", "is missing (the alpha bundle needs signals.yaml and bundle.yaml)")
    features = build_feature_catalog(tree.get("features", {}), root / "features")
    bars = {name: column for name, column in input_columns().items() if column.relation == BARS}
    signals = build_signals(section["signals"], folder / "signals.yaml", features, bars)
    return build_bundle(section["bundle"], folder / "bundle.yaml", signals, features, _state_labels(tree, root, features))


@functools.lru_cache(maxsize=8)
def _validated(text: str, root: str) -> None:
    """Validation memoised by the canonical text of the sections it reads: every dbt model that reads
    the spec validates it again, and a signal is parsed once per change, not once per model."""
    import json

    build_alpha_spec(json.loads(text), Path(root))


@register_validator("alpha")
def validate_alpha(tree: dict[str, Any], folder: Path) -> None:
    """Spec-registry hook: spec/alpha/ against the features and states it reads."""
    if not tree:
        return
    from python_udfs.spec_registry import load_tree

    root = folder.parent
    whole = {"alpha": tree}
    for section in ("features", "states"):
        if (root / section).is_dir():
            whole[section] = load_tree(root / section)
    text = canonical_json(whole)
    _validated(text, str(root))


def load_alpha_spec(root: Path | None = None) -> AlphaSpec:
    """The validated alpha bundle of the spec folder (the whole spec validated with it); a clear
    error when spec/alpha/ is missing. Read fresh on every call, validated once per content: the
    bundle's Python models each ask for it in one dbt run."""
    from python_udfs.feature_inputs import BARS_YML
    from python_udfs.spec_registry import load_tree

    root = root or spec_dir()
    if not root.is_dir():
        return _validated_alpha("", str(root), 0.0)
    contract = BARS_YML.stat().st_mtime if BARS_YML.is_file() else 0.0
    return _validated_alpha(canonical_json(load_tree(root)), str(root), contract)


@functools.lru_cache(maxsize=4)
def _validated_alpha(text: str, root: str, contract_mtime: float) -> AlphaSpec:
    """`text` (the canonical spec tree) and the fct_bars contract's mtime are the cache key only."""
    folder = Path(root)
    spec = build_alpha_spec(load_spec(folder), folder)
    if spec is None:
        raise SpecError(f"{folder / 'alpha'}: the alpha bundle needs spec/alpha/signals.yaml and spec/alpha/bundle.yaml")
    return spec


def alpha_summary(spec: AlphaSpec) -> dict[str, Any]:
    """The bundle as plain data (no parse trees): what the models and dim_alpha_signals read."""
    return {
        "signals": [{"name": s.name, "family": s.family, "formula": s.formula, "inputs": list(s.inputs),
                     "lookback_bars": s.lookback_bars, "transform": s.transform, "weight": s.weight,
                     "description": s.description, "order": index,
                     "regime_filters": [f.name for f in spec.filters_of(s.name)]}
                    for index, s in enumerate(spec.signals)],
        "min_symbols": spec.min_symbols,
        "regime_filters": [{"name": f.name, "applies_to": list(f.applies_to), "off_when": f.off_when,
                            "inputs": list(f.inputs), "off_when_unknown": f.off_when_unknown, "description": f.description}
                           for f in spec.regime_filters],
        "orthogonalisation": {**asdict(spec.orthogonalisation), "factors": list(spec.orthogonalisation.factors)},
        "combination": asdict(spec.combination),
        "portfolio": {**asdict(spec.portfolio), "variants": list(spec.portfolio.variants)},
    }


def alpha_config_json(root: Path | None = None) -> str:
    """SQL entry point: the validated alpha bundle, read fresh from spec/."""
    return canonical_json(alpha_summary(load_alpha_spec(root)))
