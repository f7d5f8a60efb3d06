"""Robustness of every blueprint (python_udfs/robustness.py): the blueprint re-run alone under each
perturbation of spec/backtest.yaml robustness - its event's parameters scaled down and up (the
event re-detected from spec/events on fct_features), the entry later, the horizon shorter and
longer, costs multiplied - with whether the return keeps its sign and the Sharpe ratio stays within
the tolerance of the unperturbed run, and the share of perturbations that keep both. A dbt Python
model: the event compiler and the engine are Python; every variant is a column of one engine pass."""


def model(dbt, session):
    dbt.config(materialized="table", tags=["backtest"])
    from python_udfs.backtest_config import load_backtest_config
    from python_udfs.cost_model import load_cost_config
    from python_udfs.robustness import robustness_table
    from python_udfs.spec_registry import load_spec

    refs = {"fct_features": dbt.ref("fct_features"), "fct_bars": dbt.ref("fct_bars"), "dim_states": dbt.ref("dim_states"),
            "int_backtest__strategies": dbt.ref("int_backtest__strategies"),
            "int_backtest__window": dbt.ref("int_backtest__window")}
    relations = {}
    for name, relation in refs.items():
        relation.create_view(f"robustness_{name}", replace=True)
        relations[name] = f"robustness_{name}"
    strategies = dbt.ref("int_backtest__strategies").filter("strategy_source = 'blueprint'")
    blueprint_index = strategies.project("strategy_index").fetchall()
    signals = dbt.ref("int_backtest__entry_signals").filter(
        "strategy_id in (select strategy_id from robustness_int_backtest__strategies where strategy_source = 'blueprint')")
    # the engine numbers the blueprint strategies 0..n-1 here: renumber them in strategy_id order
    renumbered = strategies.project("* exclude (strategy_index), cast(row_number() over (order by strategy_index) - 1 "
                                    "as integer) as strategy_index")
    renumbered.create_view("robustness_blueprints", replace=True)
    relations["int_backtest__strategies"] = "robustness_blueprints"
    signals = session.sql("select signals.strategy_id, blueprints.strategy_index, signals.symbol, signals.ts, "
                          "signals.side_sign from robustness_blueprints as blueprints join (" + signals.sql_query() +
                          ") as signals using (strategy_id)")
    conditioning = load_spec()["global_defaults"]["discovery"]["conditioning_states"]
    market = dbt.ref("int_backtest__market_bars").order("symbol, ts").to_arrow_table()
    table = robustness_table(session, renumbered.to_arrow_table() if blueprint_index else renumbered.limit(0).to_arrow_table(),
                             signals.to_arrow_table(), market, relations, load_backtest_config(), load_cost_config(),
                             conditioning)
    # The views only served this model's queries; left behind they would clutter the warehouse for BI users.
    for view in [f"robustness_{name}" for name in refs] + ["robustness_blueprints"]:
        session.execute(f"drop view if exists {view}")
    return table
