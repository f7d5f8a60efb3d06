"""Feature drift between the discovery window (where the blueprints were found) and the backtest
window (where they are traded): the population stability index of every feature a blueprint depends
on (its event's inputs and its state's inputs), per symbol, over quantile bins of the discovery
window (spec/backtest.yaml monitoring.psi_bins); drift_level stable (< 0.1), moderate (< 0.25) or
significant. A dbt Python model: quantile binning per feature and symbol."""


def model(dbt, session):
    dbt.config(materialized="table", tags=["backtest"])
    from python_udfs.backtest_config import load_backtest_config
    from python_udfs.backtest_diagnostics import blueprint_feature_usage, feature_drift_table
    from python_udfs.event_spec import load_event_catalog
    from python_udfs.spec_registry import load_spec

    blueprints = [dict(zip(("blueprint_id", "event_type", "state_name", "symbol_scope"), row)) for row in
                  dbt.ref("dim_blueprints").project("blueprint_id, event_type, state_name, symbol_scope").fetchall()]
    events = {name: event.inputs for name, event in load_event_catalog().events.items()}
    states = {name: tuple(content.get("inputs", ())) for name, content in (load_spec().get("states") or {}).items()}
    features = dbt.ref("fct_features")
    usage = blueprint_feature_usage(blueprints, events, states, set(features.columns))
    window = dbt.ref("int_backtest__window").project(
        "epoch_us(discovery_start), epoch_us(discovery_end), epoch_us(backtest_start), epoch_us(backtest_end)").fetchall()
    needed = sorted({feature for feature, _ in usage})
    table = features.project(", ".join(["symbol", "ts", *needed])).to_arrow_table() if needed else None
    discovery, backtest = ((0, 0), (0, 0)) if not window or window[0][0] is None else \
        ((window[0][0], window[0][1]), (window[0][2], window[0][3]))
    return feature_drift_table(table, discovery, backtest, usage, load_backtest_config().monitoring.psi_bins) \
        if table is not None else feature_drift_table(features.project("symbol, ts").limit(0).to_arrow_table(),
                                                      discovery, backtest, {}, 10)
