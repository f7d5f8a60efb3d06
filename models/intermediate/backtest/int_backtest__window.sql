{#- The backtest window, one row: by default the holdout window of dim_evaluation_windows (the
    blueprints were selected on the discovery window, so the backtest runs where they were not
    fitted); dbt vars backtest_start and backtest_end (UTC timestamps) pin it instead. The discovery
    window rides along: the feature-drift monitor compares the two. -#}
{{ config(materialized='table', tags=['backtest']) }}
{%- set pinned = {} %}
{%- for name in ('backtest_start', 'backtest_end') %}
    {%- set value = var(name, none) %}
    {%- if value is not none %}{% do pinned.update({name: "cast(" ~ lake_sql_string(value ~ '') ~ " as timestamptz)"}) %}{% endif %}
{%- endfor %}

with

windows as (

    select * from {{ ref('dim_evaluation_windows') }}

),

final as (

    select
        {{ pinned.get('backtest_start', 'holdout_start') }} as backtest_start,
        {{ pinned.get('backtest_end', 'holdout_end') }} as backtest_end,
        discovery_start,
        discovery_end,
        bar_seconds,
        {{ "'vars'" if pinned else "'holdout'" }} as window_source
    from windows

)

select
    *,
    case
        when backtest_start is null or backtest_end is null then 'no_window'
        when backtest_end <= backtest_start then error('int_backtest__window: backtest_end ' || backtest_end
            || ' is not after backtest_start ' || backtest_start || '; fix the dbt vars backtest_start/backtest_end')
        else 'ok'
    end as window_check
from final
