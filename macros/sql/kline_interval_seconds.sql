{#- `kline_interval_seconds(column)`: seconds in a Binance kline interval label up to 1 hour
    (`1s`, `1m`, `3m`, `5m`, ...), NULL for longer or unknown labels. Plain CASE: portable. -#}

{% macro kline_interval_seconds(column) -%}
    case {{ column }}
        when '1s' then 1
        when '1m' then 60
        when '3m' then 180
        when '5m' then 300
        when '15m' then 900
        when '30m' then 1800
        when '1h' then 3600
    end
{%- endmacro %}
