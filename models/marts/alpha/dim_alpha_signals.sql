{#- The alpha bundle's signals as spec/alpha declares them, one row per signal: family, formula,
    transform, lookback, weight, Gram-Schmidt order and the regime filters that switch it off, with
    how often it had a score and a residual. -#}
{{ config(materialized='table', tags=['alpha']) }}
{%- set config = alpha_config() %}

with

residuals as (

    select signal_name, score, residual from {{ ref('int_alpha__signals') }}

),

coverage as (

    select
        signal_name,
        count(*) as n_rows,
        count(score) as n_scored,
        count(residual) as n_residuals
    from residuals
    group by signal_name

),

catalog as (

    {%- if config is none or not config['signals'] %}
    select
        cast(null as varchar) as signal_name, cast(null as varchar) as signal_family,
        cast(null as varchar) as formula, cast(null as varchar) as transform, cast(null as integer) as lookback_bars,
        cast(null as double) as weight, cast(null as integer) as signal_order,
        cast(null as varchar[]) as regime_filters, cast(null as varchar) as description
    where false
    {%- else %}
    select * from (values
        {%- for signal in config['signals'] %}
        ({{ lake_sql_string(signal['name']) }}, {{ lake_sql_string(signal['family']) }},
         {{ lake_sql_string(signal['formula']) }}, {{ lake_sql_string(signal['transform']) }},
         {{ signal['lookback_bars'] }}, {{ signal['weight'] }}, {{ signal['order'] }},
         [{%- for name in signal['regime_filters'] %}{{ lake_sql_string(name) }}{{ ", " if not loop.last }}{% endfor -%}]::varchar[],
         {{ lake_sql_string(signal['description']) }}){{ "," if not loop.last }}
        {%- endfor %}
    ) as catalog (signal_name, signal_family, formula, transform, lookback_bars, weight, signal_order,
                  regime_filters, description)
    {%- endif %}

),

final as (

    select
        catalog.signal_name,
        catalog.signal_family,
        catalog.formula,
        catalog.transform,
        cast(catalog.lookback_bars as integer) as lookback_bars,
        cast(catalog.weight as double) as weight,
        cast(catalog.signal_order as integer) as signal_order,
        catalog.regime_filters,
        catalog.description,
        coverage.n_scored / nullif(coverage.n_rows, 0) as scored_share,
        coverage.n_residuals / nullif(coverage.n_rows, 0) as residual_share
    from catalog
    left join coverage on coverage.signal_name = catalog.signal_name

)

select * from final
order by signal_order
