{#- The evaluation windows of this warehouse, one row: events whose bar falls in
    [discovery_start, discovery_end) feed phase 1 and phase 2; the embargo [discovery_end,
    holdout_start) is embargo_bars long (at least entry_lag_bars + the longest horizon, so no label
    of a discovery event reaches a holdout bar); the bridge evaluation reads only
    [holdout_start, holdout_end). By default (window_source 'spec') the holdout is the last
    holdout_fraction of the time spanned by fct_bars, on the bar grid (spec/global_defaults.yaml
    discovery.evaluation_windows); dbt vars discovery_start, holdout_start and holdout_end (UTC
    timestamps) pin them instead (window_source 'vars' when any of them is set).

    window_check: 'ok'; 'no_bars' (fct_bars is empty: every window is NULL) or 'too_short' (the data
    cannot hold a discovery window, the embargo and a holdout: no event is in the discovery
    window, so phase 2 tests nothing) for the default split, so a small or empty warehouse still
    builds; pinned dbt vars that leave an empty window stop the build with the numbers. -#}
{{ config(materialized='table', tags=['discovery', 'bridge']) }}
{%- set settings = discovery_settings() %}
{%- set windows = settings['evaluation_windows'] %}
{%- set bar_seconds = settings['bar_seconds'] %}
{%- set pinned = {} %}
{%- for name in ('discovery_start', 'holdout_start', 'holdout_end') %}
    {%- set value = var(name, none) %}
    {%- if value is not none %}{% do pinned.update({name: "cast(" ~ lake_sql_string(value ~ '') ~ " as timestamptz)"}) %}{% endif %}
{%- endfor %}

with

bars as (

    select min(ts) as data_start, max(ts) + to_seconds({{ bar_seconds }}) as data_end from {{ ref('fct_bars') }}

),

bounds as (

    select
        data_start,
        data_end,
        {{ pinned.get('discovery_start', 'data_start') }} as discovery_start,
        {{ pinned.get('holdout_end', 'data_end') }} as holdout_end
    from bars

),

split as (

    select
        *,
        {{ pinned.get('holdout_start',
            "holdout_end - to_seconds(" ~ bar_seconds ~ " * cast(floor(epoch(holdout_end - discovery_start) / "
            ~ bar_seconds ~ " * " ~ windows['holdout_fraction'] ~ ") as bigint))") }} as holdout_start
    from bounds

),

final as (

    select
        data_start,
        data_end,
        discovery_start,
        holdout_start - to_seconds({{ bar_seconds }} * {{ windows['embargo_bars'] }}) as discovery_end,
        holdout_start,
        holdout_end,
        {{ windows['embargo_bars'] }} as embargo_bars,
        {{ windows['holdout_fraction'] if not pinned.get('holdout_start') else 'null' }} as holdout_fraction,
        {{ bar_seconds }} as bar_seconds,
        '{{ "vars" if pinned else "spec" }}' as window_source
    from split

)

select
    *,
    case
        when discovery_start is null or holdout_end is null then 'no_bars'
        {%- if pinned %}
        when discovery_end <= discovery_start then error(
            'dim_evaluation_windows: the discovery window is empty (discovery ' || discovery_start || ' .. '
            || discovery_end || ' after an embargo of {{ windows["embargo_bars"] }} bars before holdout_start '
            || holdout_start || '); set other dbt vars discovery_start / holdout_start / holdout_end')
        when holdout_end <= holdout_start then error(
            'dim_evaluation_windows: the holdout window is empty (' || holdout_start || ' .. ' || holdout_end
            || '); check the dbt vars holdout_start / holdout_end')
        {%- endif %}
        when discovery_end <= discovery_start or holdout_end <= holdout_start then 'too_short'
        else 'ok'
    end as window_check
from final
