"""Binance archive downloader, Parquet lake writer, demo market generator and the `backtest` CLI."""
