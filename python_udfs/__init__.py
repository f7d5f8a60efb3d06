"""Python functions the warehouse calls: statistics, costs and the backtest engine, registered as DuckDB UDFs."""
