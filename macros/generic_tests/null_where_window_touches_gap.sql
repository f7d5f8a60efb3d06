{#- Fails with every (symbol, ts) where a feature column of `model` is not NULL although its
    window - the lookback_bars + 1 bars ending at ts, lookback from the spec - holds a gap bar
    (is_gap of `bars`, default: the model itself, which keeps every bar's row and is_gap) or
    reaches before the symbol's first bar. Independent of the compiler: counts gaps with a running
    sum and compares it lookback_bars + 1 rows back.
    `features`: the feature names to check (default: every feature in the spec). -#}

{% test null_where_window_touches_gap(model, bars=none, features=none) %}
    {{ return(adapter.dispatch('test_null_where_window_touches_gap', 'binance_warehouse')(model, bars, features)) }}
{% endtest %}

{% macro default__test_null_where_window_touches_gap(model, bars=none, features=none) %}
{%- set bars = bars if bars is not none else model -%}
{%- set catalog = feature_spec_json("feature_catalog_json()") -%}
{%- set checks = [] -%}
{%- if catalog is not none -%}
    {%- for block in feature_block_order() -%}
        {%- for feature in catalog['blocks'][block] if features is none or feature['name'] in features -%}
            {%- do checks.append(feature) -%}
        {%- endfor -%}
    {%- endfor -%}
{%- endif -%}
{%- set lookbacks = checks | map(attribute='lookback_bars') | unique | list %}

with

bar_gaps as (

    select
        symbol,
        ts,
        row_number() over (partition by symbol order by ts) as bar_number,
        sum(case when is_gap then 1 else 0 end) over (
            partition by symbol order by ts rows between unbounded preceding and current row
        ) as gaps_so_far
    from {{ bars }}

),

windows as (

    select
        symbol,
        ts
        {%- for lookback in lookbacks %},
        bar_number <= {{ lookback }}
            or gaps_so_far - coalesce(lag(gaps_so_far, {{ lookback + 1 }}) over (partition by symbol order by ts), 0) > 0
            as touches_{{ lookback }}
        {%- endfor %}
    from bar_gaps

),

violations as (

    select
        features.symbol,
        features.ts,
        {%- if checks %}
        coalesce(
        {%- for feature in checks %}
            case when features.{{ feature['name'] }} is not null and windows.touches_{{ feature['lookback_bars'] }}
                then '{{ feature['name'] }}' end{{ "," if not loop.last }}
        {%- endfor %}
        )
        {%- else %}
        cast(null as varchar)
        {%- endif %} as first_violation

    from {{ model }} as features
    inner join windows
        on windows.symbol = features.symbol
        and windows.ts = features.ts

)

select * from violations
where first_violation is not null
{% endmacro %}
