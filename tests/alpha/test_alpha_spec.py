"""spec/alpha validation: the project's spec loads, and each kind of mistake stops with the file,
the key and the reason (checked on in-memory edits of the real spec tree, no files copied)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from python_udfs.alpha_spec import build_alpha_spec, load_alpha_spec
from python_udfs.spec_registry import SpecError, load_spec, spec_dir


@pytest.fixture(scope="module")
def tree() -> dict[str, Any]:
    return load_spec()


def test_the_projects_bundle_loads() -> None:
    spec = load_alpha_spec()
    families = {s.family for s in spec.signals}
    assert {"momentum", "reversal", "carry", "volatility", "liquidity"} <= families
    assert {s.transform for s in spec.signals} == {"xs_rank", "xs_zscore", "time_series"}
    momentum = {s.name for s in spec.signals if s.family == "momentum"}
    assert set(spec.regime_filters[0].applies_to) == momentum
    assert spec.portfolio.execution_lag_bars >= 1


def edit(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(tree: dict[str, Any]) -> None:
        node: Any = tree["alpha"]
        parts = path.split(".")
        for part in parts[:-1]:
            node = node[int(part)] if part.isdigit() else node[part]
        last = parts[-1]
        if value is DELETE:
            del node[last]
        elif last.isdigit():
            node[int(last)] = value
        else:
            node[last] = value
    return apply


DELETE = object()
CASES = {
    "unknown feature": (edit("signals.signals.1.formula", "ret_49"), "signals.yaml: signals[1] (mom_xs_48).formula",
                        "unknown feature or fct_bars column 'ret_49'"),
    "look-ahead": (edit("signals.signals.1.formula", "lead(ret_48, 1)"), "signals[1] (mom_xs_48).formula",
                   "lead() reads later bars"),
    "wrong lookback": (edit("signals.signals.2.lookback_bars", 200), "signals[2] (mom_xs_288).lookback_bars",
                       "reads 288 bar(s)"),
    "undeclared input": (edit("signals.signals.1.formula", "ret_48 - ret_12"), "signals[1] (mom_xs_48).inputs",
                         "uses ret_12 but inputs does not list it"),
    "unknown transform": (edit("signals.signals.0.transform", "rank"), "signals[0] (mom_ts_288).transform",
                          "must be one of xs_rank, xs_zscore, time_series"),
    "unknown key": (edit("signals.signals.0.lookback", 3), "signals[0] (mom_ts_288).lookback", "unknown key"),
    "a state label typo": (edit("bundle.regime_filters.0.off_when", "vol_regime = 'hgh'"),
                           "bundle.yaml: regime_filters[0].off_when", "'hgh' is not a value of vol_regime"),
    "an unknown state": (edit("bundle.regime_filters.0.off_when", "volatility = 'high'"),
                         "regime_filters[0].off_when", "unknown state 'volatility'"),
    "a window in a regime": (edit("bundle.regime_filters.0.off_when", "lag(vol_regime, 1) = 'high'"),
                             "regime_filters[0].off_when", "row-wise"),
    "an unknown target": (edit("bundle.regime_filters.0.applies_to", ["value"]), "regime_filters[0].applies_to",
                          "'value' is neither a signal"),
    "yes/no spelt off": (edit("bundle.regime_filters.0.off_when_unknown", "off"),
                         "regime_filters[0].off_when_unknown", "must be true or false"),
    "factor not a feature": (edit("bundle.orthogonalisation.factors", ["beta_moon"]), "orthogonalisation.factors",
                             "'beta_moon' is not a numeric feature"),
    "too few observations": (edit("bundle.orthogonalisation.min_observations", 5),
                             "orthogonalisation.min_observations", "regressors"),
    "no look-ahead execution": (edit("bundle.portfolio.execution_lag_bars", 0), "portfolio.execution_lag_bars",
                                "must be an integer in [1,"),
    "cap above the book": (edit("bundle.portfolio.max_symbol_weight", 2.0), "portfolio.max_symbol_weight",
                           "must be a number in (0.0, 1.0]"),
    "unknown variant": (edit("bundle.portfolio.variants", ["short_only"]), "portfolio.variants", "must be one of"),
    "missing section": (edit("bundle.combination", DELETE), "bundle.yaml: combination", "is missing"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_spec_names_the_file_the_key_and_the_reason(case: str, tree: dict[str, Any]) -> None:
    change, where, reason = CASES[case]
    broken = copy.deepcopy(tree)
    change(broken)
    with pytest.raises(SpecError) as error:
        build_alpha_spec(broken, spec_dir())
    message = str(error.value)
    assert where in message and reason in message, message
    assert "spec/alpha/" in message


def test_an_invalid_bundle_stops_the_spec_registry(tmp_path) -> None:
    """Once the plugin has imported python_udfs.alpha_spec, spec_json() / ontology_spec_hash() refuse
    an invalid spec/alpha like any other section."""
    import shutil

    from python_udfs.alpha_spec import validate_alpha  # noqa: F401 - registers the section's validator

    shutil.copytree(spec_dir(), tmp_path / "spec")
    signals = tmp_path / "spec" / "alpha" / "signals.yaml"
    signals.write_text(signals.read_text().replace("formula: ret_48\n", "formula: ret_48 + bogus\n"))
    with pytest.raises(SpecError, match="signals.yaml: signals\\[1\\] \\(mom_xs_48\\).formula"):
        load_spec(tmp_path / "spec")
