{#-
    `backtest_settings()`: the validated spec/backtest.yaml (capital, execution mode, risk limits,
    kill switches; python_udfs/backtest_config.py), read at build time so a changed limit changes
    the PnL on the next `dbt build`. `backtest_strategy_specs()`: the hand-written strategies of
    spec/strategies/, checked against the event registry and the states. Placeholders at parse time.
-#}
{% macro backtest_settings() -%}
    {%- if not execute -%}
        {{ return({'capital_usd': 1000000.0, 'execution_mode': 'next_open', 'blueprint_gross_budget': 1.0}) }}
    {%- endif -%}
    {{ return(fromjson(run_query("select backtest_config_json()").columns[0].values()[0])) }}
{%- endmacro %}

{% macro backtest_strategy_specs() -%}
    {%- if not execute -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(fromjson(run_query("select backtest_strategies_json()").columns[0].values()[0])) }}
{%- endmacro %}


{#- `half_spread_bps(quoted_spread_bps, cs_spread, floor_bps)`: the half spread a taker pays per leg,
    from the book ticker's quoted spread when known, else the Corwin-Schultz estimate (a fraction),
    never below the floor of spec/costs.yaml. -#}
{% macro half_spread_bps(quoted_spread_bps, cs_spread, floor_bps) -%}
    greatest({{ floor_bps }}, coalesce({{ quoted_spread_bps }} / 2, {{ cs_spread }} * 10000 / 2))
{%- endmacro %}
