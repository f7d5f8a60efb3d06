"""The public API's inputs: DemoConfig checks its fields, and an effects file is validated with
errors that name the file and the key, before anything is written."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from ingest.demo_market import (DEFAULT_EFFECTS, UNIVERSE, DemoConfig, DemoConfigError, EffectsError, generate,
                                load_effects)


def test_universe_has_a_btc_leader_and_at_least_twenty_symbols() -> None:
    names = [s.name for s in UNIVERSE]
    assert names[:6] == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "BNBUSDT", "XRPUSDT", "DOGEUSDT"]
    assert len(names) >= 20 and len(set(names)) == len(names)


def test_config_defaults_and_checks(tmp_path: Path) -> None:
    cfg = DemoConfig(out=tmp_path)
    assert (cfg.symbols, cfg.start, cfg.months, cfg.seed, cfg.effects) == (6, date(2024, 3, 1), 12, 7, None)
    assert cfg.effects_path == DEFAULT_EFFECTS
    for bad in (dict(symbols=0), dict(symbols=len(UNIVERSE) + 1), dict(months=0), dict(seed=-1),
                dict(start=date(2024, 1, 31))):
        with pytest.raises(DemoConfigError):
            DemoConfig(out=tmp_path, **bad)


def test_default_effects_have_planted_effects_and_nulls() -> None:
    effects = load_effects(DEFAULT_EFFECTS)
    planted = [e for e in effects if e.role == "planted"]
    nulls = [e for e in effects if e.role == "null"]
    assert len(planted) >= 4 and len(nulls) >= 2
    assert {e.condition.kind for e in planted} >= {"oi_flush", "volume_spike_return", "funding_extreme",
                                                     "range_breakout"}
    assert all(e.drift_bps != 0 for e in planted) and all(e.drift_bps == 0 for e in nulls)
    assert {e.state for e in planted} == {"any", "vol_high", "vol_low"}
    assert all(e.cooldown_bars >= e.horizon_bars for e in effects)
    # long and short effects roughly offset, so the planted drift does not trend the market
    assert any(e.drift_bps > 0 for e in planted) and any(e.drift_bps < 0 for e in planted)


GOOD = {
    "version": 1,
    "effects": [{"name": "spike", "condition": {"kind": "volume_spike_return", "return_sigma": -3.0},
                 "horizon_bars": 12, "drift_bps": 50, "symbols": ["BTCUSDT"], "state": "vol_high"}],
    "nulls": [{"name": "noon", "condition": {"kind": "clock", "hour": 12}, "horizon_bars": 12}],
}


def _write(tmp_path: Path, doc: object) -> Path:
    path = tmp_path / "effects.yaml"
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc), encoding="utf-8")
    return path


def _mutate(change: dict) -> dict:
    doc = json.loads(json.dumps(GOOD))
    for dotted, value in change.items():
        node = doc
        keys = dotted.split(".")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        last = keys[-1]
        if value is KeyError:
            node.pop(last)
        else:
            node[int(last) if last.isdigit() else last] = value
    return doc


@pytest.mark.parametrize("change, key", [
    ({"colour": "red"}, "colour"),
    ({"version": 2}, "version"),
    ({"effects.0.condition.kind": "moon_phase"}, "effects[0].condition.kind"),
    ({"effects.0.condition.return_sigma": KeyError}, "effects[0].condition.return_sigma"),
    ({"effects.0.condition.volume_ratio": 0.5}, "effects[0].condition.volume_ratio"),
    ({"effects.0.condition.speed": 1}, "effects[0].condition.speed"),
    ({"effects.0.horizon_bars": "twelve"}, "effects[0].horizon_bars"),
    ({"effects.0.horizon_bars": True}, "effects[0].horizon_bars"),
    ({"effects.0.drift_bps": KeyError}, "effects[0].drift_bps"),
    ({"effects.0.drift_bps": 0}, "effects[0].drift_bps"),
    ({"effects.0.symbols": ["BTCUSDT", "NOPEUSDT"]}, "effects[0].symbols[1]"),
    ({"effects.0.state": "bullish"}, "effects[0].state"),
    ({"effects.0.cooldown_bars": 3}, "effects[0].cooldown_bars"),
    ({"effects.0.name": "Bad Name"}, "effects[0].name"),
    ({"nulls.0.drift_bps": 10}, "nulls[0].drift_bps"),
    ({"nulls.0.name": "spike"}, "name"),
    ({"effects": KeyError}, "effects"),  # a missing list (an empty one is a null market)
])
def test_bad_effects_files_name_the_file_and_the_key(tmp_path: Path, change: dict, key: str) -> None:
    path = _write(tmp_path, _mutate(change))
    with pytest.raises(EffectsError) as err:
        load_effects(path)
    assert str(path) in str(err.value) and f": {key}:" in str(err.value), str(err.value)


def test_exactly_one_threshold_for_funding_extremes(tmp_path: Path) -> None:
    doc = _mutate({"effects.0.condition": {"kind": "funding_extreme", "above": 0.0003, "below": -0.0003}})
    with pytest.raises(EffectsError, match=r"effects\[0\]\.condition: funding_extreme needs exactly one"):
        load_effects(_write(tmp_path, doc))


def test_unreadable_effects_files(tmp_path: Path) -> None:
    with pytest.raises(EffectsError, match="not found"):
        load_effects(tmp_path / "absent.yaml")
    with pytest.raises(EffectsError, match="not valid YAML"):
        load_effects(_write(tmp_path, "effects: [unclosed"))
    with pytest.raises(EffectsError, match="top level"):
        load_effects(_write(tmp_path, "- just a list"))


def test_a_bad_effects_file_stops_generation_before_anything_is_written(tmp_path: Path) -> None:
    bad = _write(tmp_path, _mutate({"effects.0.state": "bullish"}))
    with pytest.raises(EffectsError):
        generate(DemoConfig(out=tmp_path / "out", symbols=1, months=1, effects=bad))
    assert not (tmp_path / "out").exists()


def test_a_custom_effects_file_drives_the_ground_truth(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD)
    root = generate(DemoConfig(out=tmp_path / "out", symbols=2, start=date(2024, 6, 1), months=1, seed=5,
                               effects=path))
    resolved = yaml.safe_load((root / "ground_truth" / "effects.yaml").read_text())
    assert [e["name"] for e in resolved["effects"]] == ["spike"]
    assert resolved["effects"][0]["symbols_generated"] == ["BTCUSDT"]
    assert resolved["nulls"][0]["symbols_generated"] == ["BTCUSDT", "ETHUSDT"]
    occ = pq.read_table(root / "ground_truth" / "occurrences.parquet")
    rows = occ.to_pylist()
    assert {r["effect"] for r in rows} == {"spike", "noon"}
    assert {r["symbol"] for r in rows if r["effect"] == "spike"} == {"BTCUSDT"}
    assert {r["symbol"] for r in rows if r["effect"] == "noon"} == {"BTCUSDT", "ETHUSDT"}
    config = json.loads((root / "ground_truth" / "config.json").read_text())
    assert config["demo_config"]["effects"] == "effects.yaml"


def test_generate_refuses_a_folder_that_is_not_a_demo_archive(tmp_path: Path) -> None:
    (tmp_path / "data" / "spot").mkdir(parents=True)
    with pytest.raises(DemoConfigError, match="not a demo archive"):
        generate(DemoConfig(out=tmp_path, symbols=1, months=1))
    assert (tmp_path / "data" / "spot").is_dir()
