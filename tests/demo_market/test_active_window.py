"""An effect's optional `active_window` limits it to part of the timeline (e.g. a discovery window, not
the holdout): the file is validated like every other key, the window is recorded in the ground truth,
drift is planted only on condition bars inside it, and leaving it out (or spelling out the full window)
changes nothing at all."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml

from ingest.demo_market import DEFAULT_EFFECTS, DemoConfig, EffectsError, generate, load_effects
from ingest.demo_market.planting import active_mask
from ingest.demo_market.timeline import BAR_MS, epoch_ms

BASE = {
    "version": 1,
    "effects": [
        {"name": "spike", "condition": {"kind": "volume_spike_return", "return_sigma": -3.0},
         "horizon_bars": 12, "drift_bps": 50, "symbols": ["BTCUSDT"], "state": "vol_high"},
        {"name": "noon_drift", "condition": {"kind": "clock", "hour": 12}, "horizon_bars": 12, "drift_bps": 80,
         "symbols": ["BTCUSDT", "ETHUSDT"]},
    ],
    "nulls": [{"name": "early_morning", "condition": {"kind": "clock", "hour": 3}, "horizon_bars": 12}],
}


def _write(tmp_path: Path, doc: dict, name: str = "effects.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def _with_window(section: str, index: int, window: object) -> dict:
    doc = json.loads(json.dumps(BASE))
    doc[section][index]["active_window"] = window
    return doc


@pytest.mark.parametrize("window, key, why", [
    ("first_half", "effects[1].active_window", "must be a mapping"),
    ([0.0, 0.5], "effects[1].active_window", "must be a mapping"),
    ({"stop_fraction": 0.5}, "effects[1].active_window.stop_fraction", "unknown key"),
    ({"start_fraction": -0.1}, "effects[1].active_window.start_fraction", "must be in [0, 1)"),
    ({"start_fraction": 1.0}, "effects[1].active_window.start_fraction", "must be in [0, 1)"),
    ({"start_fraction": "early"}, "effects[1].active_window.start_fraction", "expected float"),
    ({"end_fraction": True}, "effects[1].active_window.end_fraction", "expected float, got a boolean"),
    ({"end_fraction": 0}, "effects[1].active_window.end_fraction", "must be in (start_fraction, 1]"),
    ({"end_fraction": 1.5}, "effects[1].active_window.end_fraction", "must be in (start_fraction, 1]"),
    ({"start_fraction": 0.6, "end_fraction": 0.5}, "effects[1].active_window.end_fraction",
     "must be in (start_fraction, 1]"),
    ({"start_fraction": 0.5, "end_fraction": 0.5}, "effects[1].active_window.end_fraction",
     "must be in (start_fraction, 1]"),
    ({"end_fraction": float("nan")}, "effects[1].active_window.end_fraction", "must be in (start_fraction, 1]"),
])
def test_bad_active_windows_name_the_file_and_the_key(tmp_path: Path, window: object, key: str, why: str) -> None:
    path = _write(tmp_path, _with_window("effects", 1, window))
    with pytest.raises(EffectsError) as err:
        load_effects(path)
    assert str(path) in str(err.value) and f": {key}: {why}" in str(err.value), str(err.value)


def test_a_null_takes_no_active_window(tmp_path: Path) -> None:
    path = _write(tmp_path, _with_window("nulls", 0, {"end_fraction": 0.5}))
    with pytest.raises(EffectsError, match=r": nulls\[0\]\.active_window: a null condition has no drift"):
        load_effects(path)


def test_active_window_defaults_and_ground_truth_record(tmp_path: Path) -> None:
    plain = load_effects(_write(tmp_path, BASE, "plain.yaml"))
    assert all(e.active_window == (0.0, 1.0) and not e.windowed for e in plain)
    assert all("active_window" not in e.as_dict() for e in plain)

    full = load_effects(_write(tmp_path, _with_window("effects", 1, {"start_fraction": 0, "end_fraction": 1}),
                               "full.yaml"))
    assert full == plain and [e.as_dict(["BTCUSDT"]) for e in full] == [e.as_dict(["BTCUSDT"]) for e in plain]
    assert load_effects(_write(tmp_path, _with_window("effects", 1, {}), "empty.yaml")) == plain

    for window, resolved in (({"end_fraction": 0.5}, (0.0, 0.5)), ({"start_fraction": 0.25}, (0.25, 1.0)),
                             ({"start_fraction": 0.1, "end_fraction": 0.9}, (0.1, 0.9))):
        effects = load_effects(_write(tmp_path, _with_window("effects", 1, window), "windowed.yaml"))
        spike, noon = effects[0], effects[1]
        assert not spike.windowed and noon.windowed and noon.active_window == resolved
        recorded = noon.as_dict()["active_window"]
        assert (recorded["start_fraction"], recorded["end_fraction"]) == resolved
        assert "out_of_window" in recorded["rule"]


def test_active_mask_is_a_half_open_fraction_of_the_timeline() -> None:
    n = 11  # fractions 0.0, 0.1, ..., 1.0
    assert np.flatnonzero(active_mask((0.0, 0.5), n)).tolist() == [0, 1, 2, 3, 4]
    assert np.flatnonzero(active_mask((0.5, 1.0), n)).tolist() == [5, 6, 7, 8, 9, 10]
    assert np.flatnonzero(active_mask((0.25, 0.75), n)).tolist() == [3, 4, 5, 6, 7]
    assert active_mask((0.0, 1.0), n).all()
    # complementary windows split the timeline exactly: no bar in both, none in neither
    for cut in (0.1, 0.37, 0.5, 0.9):
        first, second = active_mask((0.0, cut), 8641), active_mask((cut, 1.0), 8641)
        assert not (first & second).any() and (first | second).all()


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _occurrences(root: Path) -> tuple[list[dict], dict, dict]:
    truth = root / "ground_truth"
    config = json.loads((truth / "config.json").read_text())
    resolved = yaml.safe_load((truth / "effects.yaml").read_text())
    rows = pq.read_table(truth / "occurrences.parquet").to_pylist()
    start_ms, bars = epoch_ms(date.fromisoformat(config["window"]["start"])), config["window"]["bars"]
    for r in rows:
        bar = (round(r["ts"].timestamp() * 1000) - start_ms) // BAR_MS
        r["fraction"] = bar / (bars - 1)
    return rows, config, resolved


def test_an_effect_windowed_to_the_first_half_plants_only_there(tmp_path: Path) -> None:
    only = {"version": 1, "effects": [BASE["effects"][1]], "nulls": BASE["nulls"]}
    windowed = json.loads(json.dumps(only))
    windowed["effects"][0]["active_window"] = {"end_fraction": 0.5}
    cfg = dict(symbols=2, start=date(2024, 6, 1), months=2, seed=5)
    roots = {name: generate(DemoConfig(out=tmp_path / name, effects=_write(tmp_path, doc, f"{name}.yaml"), **cfg))
             for name, doc in (("everywhere", only), ("first_half", windowed))}
    rows, config, resolved = _occurrences(roots["first_half"])

    # the ground truth says where the effect was active (and everywhere = no record)
    window = resolved["effects"][0]["active_window"]
    assert (window["start_fraction"], window["end_fraction"]) == (0.0, 0.5)
    assert "active_window" not in yaml.safe_load((roots["everywhere"] / "ground_truth" / "effects.yaml").read_text())[
        "effects"][0]

    noon = [r for r in rows if r["effect"] == "noon_drift"]
    planted = [r for r in noon if r["role"] == "planted"]
    outside = [r for r in noon if r["role"] == "out_of_window"]
    assert {r["role"] for r in noon} == {"planted", "out_of_window"}
    assert len(planted) >= 40 and len(outside) >= 40  # ~30 days x 2 symbols on each side
    assert all(r["fraction"] < 0.5 for r in planted), max(r["fraction"] for r in planted)
    assert all(r["fraction"] >= 0.5 for r in outside), min(r["fraction"] for r in outside)
    # inside the window every trigger carries the drift; outside, the condition still fires but
    # nothing is planted on its forward window
    assert all(r["drift_bps"] == 80 and r["window_drift_bps"] == pytest.approx(80, abs=1e-6) for r in planted)
    assert all(r["drift_bps"] == 0 and r["window_drift_bps"] == 0 for r in outside)
    assert all(r["window_drift_bps"] == 0 for r in rows if r["role"] == "null" and r["fraction"] >= 0.5)

    # the same condition bars as the unwindowed run: the window changes the drift, not the condition
    base_rows, _, _ = _occurrences(roots["everywhere"])
    base_noon = [r for r in base_rows if r["effect"] == "noon_drift"]
    assert {r["role"] for r in base_noon} == {"planted"}
    assert [(r["symbol"], r["ts"]) for r in base_noon] == [(r["symbol"], r["ts"]) for r in noon]
    assert [(r["symbol"], r["ts"]) for r in base_noon if r["fraction"] < 0.5] == \
        [(r["symbol"], r["ts"]) for r in planted]

    # the archive's perp prices agree where the drift is the same (June lies inside the first half)
    # and part where the second half's drift was dropped (July)
    assert config["window"]["bars"] == 61 * 288
    trees = {name: _tree(root) for name, root in roots.items()}
    for month, same in (("2024-06", True), ("2024-07", False)):
        monthly = f"data/futures/um/monthly/klines/BTCUSDT/5m/BTCUSDT-5m-{month}.zip"
        assert (trees["everywhere"][monthly] == trees["first_half"][monthly]) is same, month


def test_an_explicit_full_window_changes_nothing(tmp_path: Path) -> None:
    doc = yaml.safe_load(DEFAULT_EFFECTS.read_text())
    for effect in doc["effects"]:
        effect["active_window"] = {"start_fraction": 0, "end_fraction": 1}
    explicit = _write(tmp_path, doc, "default_effects.yaml")
    cfg = dict(symbols=2, start=date(2024, 12, 20), months=2, seed=7)
    a = _tree(generate(DemoConfig(out=tmp_path / "implicit", **cfg)))
    b = _tree(generate(DemoConfig(out=tmp_path / "explicit", effects=explicit, **cfg)))
    assert len(a) > 100 and a.keys() == b.keys()
    config = "ground_truth/config.json"
    assert [k for k in a if k != config and a[k] != b[k]] == []
    ca, cb = json.loads(a[config]), json.loads(b[config])
    # only the effects file's identity differs (its digest and name): every parameter and count is equal
    assert ca.pop("effects_sha256") != cb.pop("effects_sha256")
    assert (ca["demo_config"].pop("effects"), cb["demo_config"].pop("effects")) == ("default", "default_effects.yaml")
    assert ca == cb
