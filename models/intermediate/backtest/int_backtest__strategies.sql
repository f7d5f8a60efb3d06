{#- Every strategy the backtest runs, one row per strategy and symbol: the blueprints of
    dim_blueprints (weight = sizing_hint_fraction x blueprint_gross_budget of spec/backtest.yaml) and
    the hand-written strategies of spec/strategies/ (weight from the file). strategy_index is the
    strategy's column in the engine (python_udfs/backtest_engine.py). -#}
{{ config(materialized='table', tags=['backtest']) }}
{%- set settings = backtest_settings() %}
{%- set specs = backtest_strategy_specs() %}

with

blueprints as (

    select * from {{ ref('dim_blueprints') }}

),

blueprint_strategies as (

    select
        'blueprint' as strategy_source,
        blueprint_id as source_id,
        blueprint_id,
        event_type,
        unnest(symbol_scope) as symbol,
        side,
        state_name,
        state_value,
        entry_lag_bars,
        exit_horizon_bars as horizon_bars,
        sizing_hint_fraction * {{ settings['blueprint_gross_budget'] }} as weight
    from blueprints

),

spec_strategies as (

    {%- if specs %}
    select * from (values
        {%- for strategy in specs %}
        {%- set outer = loop %}
        {%- for symbol in strategy['symbols'] %}
        ('spec', {{ lake_sql_string(strategy['name']) }}, cast(null as varchar), {{ lake_sql_string(strategy['event_type']) }},
         {{ lake_sql_string(symbol) }}, {{ lake_sql_string(strategy['side']) }}, {{ lake_sql_string(strategy['state_name']) }},
         {{ lake_sql_string(strategy['state_value']) }}, {{ strategy['entry_lag_bars'] }}, {{ strategy['horizon_bars'] }},
         cast({{ strategy['weight'] }} as double)){{ ',' if not (outer.last and loop.last) }}
        {%- endfor %}
        {%- endfor %}
    ) as specs (strategy_source, source_id, blueprint_id, event_type, symbol, side, state_name, state_value,
                entry_lag_bars, horizon_bars, weight)
    {%- else %}
    select
        cast(null as varchar) as strategy_source, cast(null as varchar) as source_id, cast(null as varchar) as blueprint_id,
        cast(null as varchar) as event_type, cast(null as varchar) as symbol, cast(null as varchar) as side,
        cast(null as varchar) as state_name, cast(null as varchar) as state_value, cast(null as integer) as entry_lag_bars,
        cast(null as integer) as horizon_bars, cast(null as double) as weight
    where false
    {%- endif %}

),

unioned as (

    select * from blueprint_strategies
    union all
    select * from spec_strategies

),

final as (

    select
        strategy_source || ':' || source_id || ':' || symbol as strategy_id,
        strategy_source,
        source_id,
        blueprint_id,
        event_type,
        symbol,
        side,
        state_name,
        state_value,
        cast(entry_lag_bars as integer) as entry_lag_bars,
        cast(horizon_bars as integer) as horizon_bars,
        cast(weight as double) as weight,
        cast(row_number() over (order by strategy_source, source_id, symbol) - 1 as integer) as strategy_index
    from unioned

)

select * from final
