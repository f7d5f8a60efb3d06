"""Spec validation: every invalid feature or state file is refused with the file, the key and the
reason - through load_spec (what spec_json, feature_plan_json and the PIT linter call)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from ingest.pit_lint import check_spec
from python_udfs.feature_spec import BLOCKS
from python_udfs.spec_registry import SpecError, load_spec

REPO = Path(__file__).resolve().parents[2]
SPEC = REPO / "spec"


def feature(name: str = "f", formula: str = "log_return(close, 1)", inputs: list[str] | None = None,
            lookback_bars: int = 1, **extra: object) -> dict[str, object]:
    entry = {"name": name, "formula": formula, "inputs": inputs if inputs is not None else ["close"],
             "lookback_bars": lookback_bars, "unit": "u", "pit": "p", "description": "d"}
    entry.update(extra)
    return entry


def write_spec(root: Path, blocks: dict[str, list[dict[str, object]]], states: dict[str, object] | None = None) -> Path:
    (root / "features").mkdir(parents=True, exist_ok=True)
    (root / "global_defaults.yaml").write_text("bar_interval_minutes: 5\n")
    for block, entries in blocks.items():
        (root / "features" / f"{block}.yaml").write_text(yaml.safe_dump({"features": entries}, sort_keys=False))
    for name, content in (states or {}).items():
        (root / "states").mkdir(exist_ok=True)
        (root / "states" / f"{name}.yaml").write_text(yaml.safe_dump(content, sort_keys=False))
    return root


def refused(root: Path, *parts: str) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(root)
    message = str(info.value)
    for part in parts:
        assert part in message, f"{part!r} not in {message!r}"
    return message


def test_the_project_spec_is_valid() -> None:
    tree = load_spec(SPEC)
    assert set(tree["features"]) == set(BLOCKS)
    assert set(tree["states"]) == {"vol_regime", "carry_state", "trend_state", "funding_state", "session"}
    assert check_spec(SPEC) is None


@pytest.mark.parametrize("formula, reason", [
    ("rolling_median(close, 12)", "unknown function 'rolling_median'"),
    ("read_csv('/etc/passwd')", "'read_csv' is not allowed"),
    ("read_parquet('x.parquet')", "'read_parquet' is not allowed"),
    ("(select max(close) from fct_bars)", "subqueries are not allowed"),
    ("close + (select 1)", "subqueries are not allowed"),
    ("attach 'other.duckdb' as other", "statements (ATTACH, COPY"),
    ("copy fct_bars to 'out.csv'", "statements (ATTACH, COPY"),
    ("close; drop table fct_bars", "exactly one expression"),
    ("lead(close, 1)", "lead() reads later bars"),
    ("avg(close) over (partition by symbol)", "OVER clauses are not allowed"),
    ("getenv('HOME')", "'getenv' is not allowed"),
    ("fct_bars.close", "qualified names are not allowed"),
    ("close like 'a%'", "is not allowed in the feature vocabulary"),
])
def test_unsafe_or_unknown_constructs_are_refused(tmp_path: Path, formula: str, reason: str) -> None:
    root = write_spec(tmp_path, {"returns": [feature(formula=formula)]})
    refused(root, str(root / "features" / "returns.yaml"), "features[0] (f).formula", reason)


def test_unknown_column_or_feature(tmp_path: Path) -> None:
    root = write_spec(tmp_path, {"returns": [feature(formula="log_return(clse, 1)", inputs=["clse"])]})
    refused(root, "returns.yaml", "features[0] (f).formula", "unknown column or feature 'clse'")


@pytest.mark.parametrize("formula, inputs, reason", [
    ("rolling_mean(is_gap, 12)", ["is_gap"], "rolling_mean() expects number, got boolean"),
    ("close + symbol", ["close", "symbol"], "'+' expects number, got text"),
    ("ts - available_at", ["ts", "available_at"], "use epoch() to turn times into seconds"),
    ("rolling_mean(close, 2.5)", ["close"], "must be an integer literal"),
    ("rolling_mean(close, 1)", ["close"], "must be >= 2"),
    ("rolling_mean(close, lookback)", ["close"], "must be an integer literal"),
    ("symbol_value(close, 'btc')", ["close"], "quoted symbol"),
    ("close and true", ["close"], "'AND' expects boolean, got number"),
    ("case when close then 1 else 0 end", ["close"], "CASE WHEN condition expects boolean"),
    ("symbol", ["symbol"], "must be a number or a boolean"),
    ("rolling_mean(close)", ["close"], "takes 2 argument(s), got 1"),
])
def test_wrong_types_are_refused(tmp_path: Path, formula: str, inputs: list[str], reason: str) -> None:
    root = write_spec(tmp_path, {"returns": [feature(formula=formula, inputs=inputs, lookback_bars=0)]})
    refused(root, "returns.yaml", "features[0] (f).formula", reason)


def test_lookback_mismatch_names_the_right_value(tmp_path: Path) -> None:
    root = write_spec(tmp_path, {"returns": [
        feature("r", "log_return(close, 1)", lookback_bars=1),
        feature("v", "zscore(rolling_std(r, 12), 288)", inputs=["r"], lookback_bars=288),
    ]})
    refused(root, "features[1] (v).lookback_bars", "is 288 but the formula reads 299 bar(s)", "set lookback_bars: 299")


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    root = write_spec(tmp_path, {"returns": [feature("f")], "volatility": [feature("f")]})
    refused(root, "volatility.yaml", "features[0] (f).name", "duplicate feature name, first declared in",
            "returns.yaml")


def test_name_clashing_with_a_bar_column(tmp_path: Path) -> None:
    root = write_spec(tmp_path, {"returns": [feature("close", "close * 2", lookback_bars=0)]})
    refused(root, "features[0] (close).name", "already a column of fct_bars")


def test_inputs_must_match_the_formula(tmp_path: Path) -> None:
    root = write_spec(tmp_path, {"returns": [feature(formula="close / open", inputs=["close"], lookback_bars=0)]})
    refused(root, "features[0] (f).inputs", "the formula uses open but inputs does not list it")
    root = write_spec(tmp_path, {"returns": [feature(inputs=["close", "high"])]})
    refused(root, "features[0] (f).inputs", "lists high but the formula does not use it")


@pytest.mark.parametrize("mutate, key, reason", [
    (lambda e: e.update(window=12), "features[0] (f)", "unknown key(s) window"),
    (lambda e: e.pop("unit"), "features[0] (f)", "missing key(s) unit"),
    (lambda e: e.update(lookback_bars="12"), "features[0] (f).lookback_bars", "must be an integer >= 0"),
    (lambda e: e.update(lookback_bars=True), "features[0] (f).lookback_bars", "must be an integer >= 0"),
    (lambda e: e.update(name="Bad-Name"), "features[0] (Bad-Name).name", "lowercase letters"),
    (lambda e: e.update(name="__hidden"), "features[0] (__hidden).name", "must be lowercase letters"),
    (lambda e: e.update(name="cal_x"), "features[0] (cal_x).name", "reserved prefix"),
    (lambda e: e.update(description=""), "features[0] (f).description", "non-empty string"),
    (lambda e: e.update(inputs="close"), "features[0] (f).inputs", "non-empty list of names"),
])
def test_bad_keys_and_values(tmp_path: Path, mutate, key: str, reason: str) -> None:
    entry = feature()
    mutate(entry)
    root = write_spec(tmp_path, {"returns": [entry]})
    refused(root, "returns.yaml", key, reason)


def test_unknown_block_and_top_level_keys(tmp_path: Path) -> None:
    root = write_spec(tmp_path, {"momentum": [feature()]})
    refused(root, "momentum.yaml", "unknown feature block 'momentum'", "int_features__<block>.sql")
    root = tmp_path / "other"
    write_spec(root, {"returns": [feature()]})
    (root / "features" / "returns.yaml").write_text("featurez: []\n")
    refused(root, "returns.yaml", "featurez", "unknown key")


def test_a_block_may_not_use_a_later_block(tmp_path: Path) -> None:
    root = write_spec(tmp_path, {"returns": [feature("r", "rv * 2", inputs=["rv"], lookback_bars=12)],
                                 "volatility": [feature("rv", "rolling_std(close, 12)", lookback_bars=11)]})
    refused(root, "returns.yaml", "features[0] (r).formula", "uses feature 'rv' of block 'volatility'",
            "builds after 'returns'")


def test_circular_dependency(tmp_path: Path) -> None:
    root = write_spec(tmp_path, {"returns": [feature("a", "b + 1", inputs=["b"], lookback_bars=0),
                                             feature("b", "a + 1", inputs=["a"], lookback_bars=0)]})
    refused(root, "returns.yaml", "circular dependency: a -> b -> a")


def state(**overrides: object) -> dict[str, object]:
    content: dict[str, object] = {"name": "regime", "description": "d", "inputs": ["f"],
                                  "cases": [{"when": "f > 0", "value": "up"}], "default": "flat"}
    content.update(overrides)
    return content


@pytest.mark.parametrize("overrides, key, reason", [
    ({"inputs": ["nope"]}, "inputs", "unknown feature 'nope'"),
    ({"inputs": ["close"], "cases": [{"when": "close > 0", "value": "up"}]}, "inputs", "unknown feature 'close'"),
    ({"cases": [{"when": "g > 0", "value": "up"}]}, "cases[0].when", "unknown feature 'g'"),
    ({"cases": [{"when": "rolling_mean(f, 3) > 0", "value": "up"}]}, "cases[0].when", "move window functions"),
    ({"cases": [{"when": "f + 1", "value": "up"}]}, "cases[0].when", "must be a boolean condition"),
    ({"cases": [{"when": "f > 0", "value": "Up!"}]}, "cases[0].value", "lowercase letters"),
    ({"cases": []}, "cases", "non-empty list"),
    ({"colour": "red"}, "file", "unknown key(s) colour"),
    ({"name": "other"}, "name", "must match the file name"),
    ({"inputs": ["f", "f"]}, "inputs", "lists a name twice"),
])
def test_invalid_states(tmp_path: Path, overrides: dict[str, object], key: str, reason: str) -> None:
    root = write_spec(tmp_path, {"returns": [feature()]}, {"regime": state(**overrides)})
    refused(root, str(root / "states" / "regime.yaml"), key, reason)


def test_pit_lint_rejects_an_unknown_feature_in_spec(tmp_path: Path) -> None:
    root = tmp_path / "spec"
    shutil.copytree(SPEC, root)
    trend = root / "features" / "trend.yaml"
    trend.write_text(trend.read_text().replace("formula: ln(ema_12 / ema_48)", "formula: ln(ema_12 / ema_4800)"))
    message = check_spec(root)
    assert message is not None
    assert re.search(r"trend\.yaml: features\[\d+\] \(ema_gap_12_48\)\.formula: unknown column or feature 'ema_4800'",
                     message), message


def test_pit_lint_cli_fails_on_an_invalid_spec(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    from ingest import pit_lint

    root = write_spec(tmp_path, {"returns": [feature(formula="nosuch(close)")]})
    monkeypatch.setenv("BACKTEST_SPEC_DIR", str(root))
    assert pit_lint.main(["--manifest", str(tmp_path / "unused.json")]) == 1
    assert "invalid spec" in capsys.readouterr().err
