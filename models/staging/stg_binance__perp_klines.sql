-- Body shared by every kline staging model: macros/staging/staging_klines.sql
{{ staging_trade_klines('um') }}
