"""One run of the vectorised backtest engine (python_udfs/backtest_engine.py) over every strategy of
int_backtest__strategies on the market of int_backtest__market_bars, with the risk caps and kill
switches of spec/backtest.yaml and the dynamic cost model of spec/costs.yaml. Long rows (row_kind
strategy, symbol, portfolio, halt) that fct_backtest_pnl and fct_backtest_halts split: the engine runs
once. A dbt Python model because positions, caps and halts are path dependent (numpy, chunked)."""


def model(dbt, session):
    dbt.config(materialized="table", tags=["backtest"])
    from python_udfs.backtest_config import load_backtest_config
    from python_udfs.backtest_tables import backtest_simulation
    from python_udfs.cost_model import load_cost_config

    strategies = dbt.ref("int_backtest__strategies").to_arrow_table()
    signals = dbt.ref("int_backtest__entry_signals").to_arrow_table()
    market = dbt.ref("int_backtest__market_bars").order("symbol, ts").to_arrow_table()
    return backtest_simulation(strategies, signals, market, load_backtest_config(), load_cost_config())
