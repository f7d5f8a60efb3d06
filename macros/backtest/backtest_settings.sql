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


{#- `trade_side_sign(side, direction_sign)`: +1 long / -1 short for a rule side (long, short,
    event_direction, against_event_direction) and an event's direction sign (+1 up, -1 down, 0 or
    NULL none); NULL when a directional side meets an event without a direction. -#}
{% macro trade_side_sign(side, direction_sign) -%}
    case {{ side }}
        when 'long' then 1
        when 'short' then -1
        when 'event_direction' then nullif({{ direction_sign }}, 0)
        when 'against_event_direction' then -nullif({{ direction_sign }}, 0)
    end
{%- endmacro %}


{#- `state_condition_holds(state_name, state_value, states)`: whether a hypothesis' state condition
    holds at a bar whose market states are the columns of `states` (dim_states or event samples):
    'all'/'all' always, otherwise the named conditioning state must have the value. -#}
{% macro state_condition_holds(state_name, state_value, states) -%}
    {%- set settings = discovery_settings() -%}
    case {{ state_name }}
        when 'all' then {{ state_value }} = 'all'
        {%- for state in settings['conditioning_states'] %}
        when '{{ state }}' then {{ states }}.{{ state }} = {{ state_value }}
        {%- endfor %}
        else false
    end
{%- endmacro %}
