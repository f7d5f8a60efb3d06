"""What the generator planted, written next to the archive so tests and the warehouse's discovery can
be scored against it: resolved effects, every occurrence, and every parameter used."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import yaml

from ingest.demo_market.effects import EffectSpec
from ingest.demo_market.planting import PlantResult
from ingest.demo_market.timeline import BAR_MS
from ingest.lake import write_json_atomic, write_parquet_atomic

OCCURRENCE_SCHEMA = pa.schema([
    ("effect", pa.string()),
    ("role", pa.string()),
    ("symbol", pa.string()),
    ("ts", pa.timestamp("us", tz="UTC")),
    ("known_at", pa.timestamp("us", tz="UTC")),
    ("state", pa.string()),
    ("in_state", pa.bool_()),
    ("horizon_bars", pa.int32()),
    ("drift_bps", pa.float64()),
    ("window_drift_bps", pa.float64()),
])
"""One row per recorded occurrence. `ts` is the open time of the condition bar (known at its close,
`known_at`); `drift_bps` is what this occurrence planted (0 unless role = planted);
`window_drift_bps` is all planted drift landing on bars t+1..t+h of the symbol (any effect), i.e. the
exact expected forward log return over the horizon in bps."""


@dataclass
class OccurrenceLog:
    rows: dict[str, list[Any]] = field(default_factory=lambda: {name: [] for name in OCCURRENCE_SCHEMA.names})

    def add(self, symbol: str, effects: tuple[EffectSpec, ...], result: PlantResult, open_ms: np.ndarray) -> None:
        window = np.r_[0.0, np.cumsum(result.drift)]
        n = result.drift.size
        for o in result.occurrences:
            e = effects[o.effect]
            hi = min(o.bar + e.horizon_bars + 1, n)
            ts = int(open_ms[o.bar]) * 1000
            state = str(result.states[o.bar])
            self.rows["effect"].append(e.name)
            self.rows["role"].append(o.role)
            self.rows["symbol"].append(symbol)
            self.rows["ts"].append(ts)
            self.rows["known_at"].append(ts + BAR_MS * 1000)
            self.rows["state"].append(state)
            self.rows["in_state"].append(e.state == "any" or e.state == state)
            self.rows["horizon_bars"].append(e.horizon_bars)
            self.rows["drift_bps"].append(e.drift_bps if o.role == "planted" else 0.0)
            self.rows["window_drift_bps"].append(round(float(window[hi] - window[o.bar + 1]) * 1e4, 9))

    def table(self) -> pa.Table:
        table = pa.table({k: pa.array(v, OCCURRENCE_SCHEMA.field(k).type) for k, v in self.rows.items()},
                         schema=OCCURRENCE_SCHEMA)
        return table.sort_by([("ts", "ascending"), ("symbol", "ascending"), ("effect", "ascending")])


def file_digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def write_ground_truth(folder: Path, effects: tuple[EffectSpec, ...], symbols: list[str], log: OccurrenceLog,
                       config: dict[str, Any]) -> None:
    """effects.yaml and occurrences.parquet first, config.json last: its presence marks a complete
    archive."""
    folder.mkdir(parents=True, exist_ok=True)
    resolved = {
        "version": 1,
        "conventions": {
            "condition_bar": "ts = open time of bar t; the condition uses data known by the bar's close (ts + 5m)",
            "drift": "drift_bps spread evenly over the log returns of bars t+1..t+horizon_bars (perp and spot)",
            "measure": "forward return = log(close[t + horizon_bars] / close[t]) of the UM perp 5m klines",
            "states": "vol_high: realised vol of the last 288 perp returns >= that of the last 8640 (at t); "
                      "vol_low otherwise",
            "roles": "planted (drift applied), out_of_state (condition met in the other state), suppressed "
                     "(inside another planted window: no drift), out_of_window (condition met outside the effect's "
                     "active_window: no drift), null (null condition)",
        },
        "symbols_generated": symbols,
        "effects": [e.as_dict(symbols) for e in effects if e.role == "planted"],
        "nulls": [e.as_dict(symbols) for e in effects if e.role == "null"],
    }
    (folder / "effects.yaml").write_text(yaml.safe_dump(resolved, sort_keys=False, width=110), encoding="utf-8")
    write_parquet_atomic(log.table(), folder / "occurrences.parquet")
    write_json_atomic(json.loads(json.dumps(config, default=_jsonable)), folder / "config.json")


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
