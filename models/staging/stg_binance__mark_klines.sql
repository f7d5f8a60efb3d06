-- Body shared by every kline staging model: macros/staging/staging_klines.sql
{{ staging_price_klines('markPriceKlines') }}
