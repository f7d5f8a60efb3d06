"""The planted-effects file: load, validate (errors name the file and the key), resolve defaults.

An effect reads: "after <condition> at bar t, the forward return over <horizon_bars> bars drifts by
<drift_bps> on <symbols> when the symbol is in <state> at t". A null has no drift: its condition is
pure noise and must not be found by any honest discovery.

A planted effect may be limited to part of the generated timeline with `active_window:
{start_fraction, end_fraction}` (fractions of the timeline: first bar 0, last bar 1; defaults 0 and
1). A condition bar t is in the window when start_fraction <= t / (bars - 1) < end_fraction
(end_fraction 1 includes the last bar); outside it the condition may still occur, but it gets no
drift (planting records it as `out_of_window`). Without the key the effect is active everywhere and
the generated market is exactly what it was before the key existed."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ingest.demo_market.universe import UNIVERSE

STATES = ("any", "vol_high", "vol_low")
NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
MAX_HORIZON = 3 * 288
FULL_WINDOW = (0.0, 1.0)
"""The default active window: the whole timeline."""
WINDOW_RULE = ("condition bar t is active when start_fraction <= t / (bars - 1) < end_fraction (end_fraction 1 "
               "includes the last bar; bars = config.json window.bars, the same for every symbol); outside it "
               "occurrences have role out_of_window and get no drift")
_UNIVERSE_NAMES = tuple(spec.name for spec in UNIVERSE)


class EffectsError(ValueError):
    """An effects file the user must fix; the message names the file and the offending key."""


@dataclass(frozen=True)
class Param:
    kind: type | tuple[type, ...]
    default: Any = None
    required: bool = False
    check: Any = None
    hint: str = ""


_POS = (lambda v: v > 0, "> 0")
CONDITIONS: dict[str, dict[str, Param]] = {
    "volume_spike_return": {
        "volume_ratio": Param(float, 3.0, check=lambda v: v > 1, hint="> 1 (volume / trailing mean)"),
        "return_sigma": Param(float, required=True, check=lambda v: v != 0,
                              hint="non-zero: bar return in trailing-sigma units, negative = down move"),
        "lookback_bars": Param(int, 288, check=lambda v: 12 <= v <= 8640, hint="12..8640"),
    },
    "funding_extreme": {
        "above": Param(float, None, hint="8h-normalised funding rate, e.g. 0.0003"),
        "below": Param(float, None, hint="8h-normalised funding rate, e.g. -0.0002"),
    },
    "oi_flush": {
        "oi_drop_pct": Param(float, 3.0, check=_POS[0], hint="> 0 (percent drop of OI in the bar)"),
        "min_liquidation_usd": Param(float, 0.0, check=lambda v: v >= 0, hint=">= 0"),
        "direction": Param(str, "any", check=lambda v: v in ("down", "up", "any"),
                           hint="down (longs flushed: the bar fell), up (shorts squeezed) or any"),
    },
    "range_breakout": {
        "lookback_bars": Param(int, 288, check=lambda v: 12 <= v <= 8640, hint="12..8640"),
        "direction": Param(str, "up", check=lambda v: v in ("up", "down"), hint="up or down"),
    },
    "taker_imbalance": {
        "buy_ratio_above": Param(float, None, check=lambda v: 0.5 < v < 1, hint="in (0.5, 1)"),
        "buy_ratio_below": Param(float, None, check=lambda v: 0 < v < 0.5, hint="in (0, 0.5)"),
        "volume_ratio": Param(float, 1.0, check=lambda v: v > 0, hint="> 0"),
        "lookback_bars": Param(int, 288, check=lambda v: 12 <= v <= 8640, hint="12..8640"),
    },
    "long_short_extreme": {
        "ratio_above": Param(float, None, check=_POS[0], hint="> 0 (global account long/short ratio)"),
        "ratio_below": Param(float, None, check=_POS[0], hint="> 0"),
    },
    "clock": {
        "weekday": Param(int, None, check=lambda v: 0 <= v <= 6, hint="0 (Monday) .. 6"),
        "hour": Param(int, required=True, check=lambda v: 0 <= v <= 23, hint="0..23 UTC"),
        "minute": Param(int, 0, check=lambda v: 0 <= v <= 55 and v % 5 == 0, hint="0..55, a multiple of 5"),
    },
}
_ONE_OF = {"funding_extreme": ("above", "below"), "taker_imbalance": ("buy_ratio_above", "buy_ratio_below"),
           "long_short_extreme": ("ratio_above", "ratio_below")}


@dataclass(frozen=True)
class Condition:
    kind: str
    params: tuple[tuple[str, Any], ...]

    def get(self, name: str) -> Any:
        return dict(self.params)[name]

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, **{k: v for k, v in self.params if v is not None}}


@dataclass(frozen=True)
class EffectSpec:
    name: str
    role: str
    """`planted` (has a drift) or `null` (must show none)."""
    condition: Condition
    horizon_bars: int
    drift_bps: float
    symbols: tuple[str, ...]
    state: str
    cooldown_bars: int
    description: str = ""
    active_window: tuple[float, float] = FULL_WINDOW
    """(start_fraction, end_fraction) of the timeline in which a condition bar gets the drift."""

    @property
    def windowed(self) -> bool:
        """True when the effect is limited to part of the timeline."""
        return self.active_window != FULL_WINDOW

    def applies_to(self, symbol: str) -> bool:
        return symbol in self.symbols

    def as_dict(self, generated: list[str] | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name, "role": self.role, "description": self.description,
            "condition": self.condition.as_dict(), "horizon_bars": self.horizon_bars,
            "drift_bps": self.drift_bps, "symbols": list(self.symbols), "state": self.state,
            "cooldown_bars": self.cooldown_bars,
        }
        if self.windowed:  # omitted when active everywhere, so existing ground truth stays byte-identical
            start, end = self.active_window
            body["active_window"] = {"start_fraction": start, "end_fraction": end, "rule": WINDOW_RULE}
        if generated is not None:
            body["symbols_generated"] = [s for s in self.symbols if s in generated]
        return body


def _fail(path: Path, key: str, why: str) -> EffectsError:
    return EffectsError(f"{path}: {key}: {why}")


def _typed(path: Path, key: str, value: Any, kind: type | tuple[type, ...]) -> Any:
    if isinstance(value, bool) and kind is not bool:
        raise _fail(path, key, f"expected {getattr(kind, '__name__', kind)}, got a boolean")
    if kind is float and isinstance(value, int):
        return float(value)
    if not isinstance(value, kind):
        name = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise _fail(path, key, f"expected {name}, got {type(value).__name__} {value!r}")
    return value


def _condition(path: Path, key: str, raw: Any) -> Condition:
    if not isinstance(raw, dict):
        raise _fail(path, key, "must be a mapping with a `kind` and its parameters")
    kind = raw.get("kind")
    if kind not in CONDITIONS:
        raise _fail(path, f"{key}.kind", f"unknown condition {kind!r}; known: {', '.join(sorted(CONDITIONS))}")
    schema = CONDITIONS[kind]
    unknown = sorted(set(raw) - set(schema) - {"kind"})
    if unknown:
        raise _fail(path, f"{key}.{unknown[0]}", f"unknown parameter for {kind}; known: {', '.join(schema)}")
    params = {}
    for name, spec in schema.items():
        where = f"{key}.{name}"
        if name not in raw or raw[name] is None:
            if spec.required:
                raise _fail(path, where, f"required ({spec.hint})")
            params[name] = spec.default
            continue
        value = _typed(path, where, raw[name], spec.kind)
        if spec.check is not None and not spec.check(value):
            raise _fail(path, where, f"{value!r} out of range: {spec.hint}")
        params[name] = value
    if kind in _ONE_OF:
        given = [k for k in _ONE_OF[kind] if params[k] is not None]
        if len(given) != 1:
            raise _fail(path, key, f"{kind} needs exactly one of {' / '.join(_ONE_OF[kind])}")
    return Condition(kind, tuple(sorted(params.items())))


def _symbols(path: Path, key: str, raw: Any) -> tuple[str, ...]:
    if raw == "all" or raw is None:
        return _UNIVERSE_NAMES
    if not isinstance(raw, list) or not raw:
        raise _fail(path, key, "must be `all` or a non-empty list of symbols")
    for i, sym in enumerate(raw):
        if sym not in _UNIVERSE_NAMES:
            raise _fail(path, f"{key}[{i}]", f"unknown symbol {sym!r}; the demo universe is {', '.join(_UNIVERSE_NAMES)}")
    if len(set(raw)) != len(raw):
        raise _fail(path, key, "lists a symbol twice")
    return tuple(raw)


def _active_window(path: Path, key: str, raw: Any) -> tuple[float, float]:
    if raw is None:
        return FULL_WINDOW
    if not isinstance(raw, dict):
        raise _fail(path, key, "must be a mapping with start_fraction and/or end_fraction "
                               "(fractions of the timeline: first bar 0, last bar 1)")
    unknown = sorted(set(raw) - {"start_fraction", "end_fraction"})
    if unknown:
        raise _fail(path, f"{key}.{unknown[0]}", "unknown key; known: end_fraction, start_fraction")
    start, end = (FULL_WINDOW[j] if raw.get(name) is None else _typed(path, f"{key}.{name}", raw[name], float)
                  for j, name in enumerate(("start_fraction", "end_fraction")))
    if not 0 <= start < 1:
        raise _fail(path, f"{key}.start_fraction", f"must be in [0, 1), got {start!r}")
    if not start < end <= 1:
        raise _fail(path, f"{key}.end_fraction", f"must be in (start_fraction, 1], got {end!r} "
                                                 f"with start_fraction {start!r}")
    return (start, end)


_ENTRY_KEYS = {"name", "description", "condition", "horizon_bars", "drift_bps", "symbols", "state", "cooldown_bars",
               "active_window"}


def _entry(path: Path, key: str, raw: Any, role: str, default_cooldown: int) -> EffectSpec:
    if not isinstance(raw, dict):
        raise _fail(path, key, "must be a mapping")
    unknown = sorted(set(raw) - _ENTRY_KEYS)
    if unknown:
        raise _fail(path, f"{key}.{unknown[0]}", f"unknown key; known: {', '.join(sorted(_ENTRY_KEYS))}")
    name = raw.get("name")
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise _fail(path, f"{key}.name", "required: lower_snake_case identifier")
    for req in ("condition", "horizon_bars"):
        if req not in raw:
            raise _fail(path, f"{key}.{req}", "required")
    condition = _condition(path, f"{key}.condition", raw["condition"])
    horizon = _typed(path, f"{key}.horizon_bars", raw["horizon_bars"], int)
    if not 1 <= horizon <= MAX_HORIZON:
        raise _fail(path, f"{key}.horizon_bars", f"{horizon} out of range 1..{MAX_HORIZON}")
    drift = raw.get("drift_bps", 0.0 if role == "null" else None)
    if drift is None:
        raise _fail(path, f"{key}.drift_bps", "required for a planted effect (basis points, non-zero)")
    drift = _typed(path, f"{key}.drift_bps", drift, float)
    if role == "planted" and not 0 < abs(drift) <= 1000:
        raise _fail(path, f"{key}.drift_bps", f"{drift} must be non-zero and at most 1000 bps in size")
    if role == "null" and drift != 0:
        raise _fail(path, f"{key}.drift_bps", "a null condition has no drift (omit it or set 0)")
    state = raw.get("state", "any")
    if state not in STATES:
        raise _fail(path, f"{key}.state", f"unknown state {state!r}; known: {', '.join(STATES)}")
    cooldown = _typed(path, f"{key}.cooldown_bars", raw.get("cooldown_bars", max(default_cooldown, horizon)), int)
    if cooldown < horizon:
        raise _fail(path, f"{key}.cooldown_bars", f"{cooldown} must be >= horizon_bars ({horizon}) so windows do not overlap")
    description = raw.get("description", "")
    if not isinstance(description, str):
        raise _fail(path, f"{key}.description", "must be text")
    if role == "null" and "active_window" in raw:
        raise _fail(path, f"{key}.active_window", "a null condition has no drift to limit in time (omit it)")
    window = _active_window(path, f"{key}.active_window", raw.get("active_window"))
    return EffectSpec(name, role, condition, horizon, drift, _symbols(path, f"{key}.symbols", raw.get("symbols")),
                      state, cooldown, description.strip(), window)


def load_effects(path: Path) -> tuple[EffectSpec, ...]:
    """Planted effects first (in file order, which is also their priority), then nulls."""
    path = Path(path)
    if not path.is_file():
        raise EffectsError(f"{path}: effects file not found")
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise EffectsError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(doc, dict):
        raise EffectsError(f"{path}: top level must be a mapping with `effects` (and `nulls`)")
    unknown = sorted(set(doc) - {"version", "defaults", "effects", "nulls"})
    if unknown:
        raise _fail(path, unknown[0], "unknown top-level key; known: version, defaults, effects, nulls")
    if doc.get("version", 1) != 1:
        raise _fail(path, "version", f"unsupported version {doc.get('version')!r} (this generator reads 1)")
    defaults = doc.get("defaults") or {}
    if not isinstance(defaults, dict) or set(defaults) - {"cooldown_bars"}:
        raise _fail(path, "defaults", "may only hold `cooldown_bars`")
    cooldown = _typed(path, "defaults.cooldown_bars", defaults.get("cooldown_bars", 288), int)
    if cooldown < 1:
        raise _fail(path, "defaults.cooldown_bars", "must be >= 1")
    out: list[EffectSpec] = []
    for section, role in (("effects", "planted"), ("nulls", "null")):
        entries = doc.get(section) or []
        if not isinstance(entries, list):
            raise _fail(path, section, "must be a list")
        if section == "effects" and "effects" not in doc:
            raise _fail(path, "effects", "is required (an empty list makes a null market with no planted effect)")
        out.extend(_entry(path, f"{section}[{i}]", raw, role, cooldown) for i, raw in enumerate(entries))
    names = [e.name for e in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise _fail(path, "name", f"duplicate effect name {dup[0]!r}")
    return tuple(out)
