{#- Correlations between the alpha bundle's signals before and after orthogonalisation, one row per
    pair of signals (signal_a before signal_b in spec/alpha/signals.yaml): of their values pooled
    over every (symbol, bar) where both are known (the scores before, the residuals after), and of
    their factor returns over every bar where both are known (stage 'score' before, 'signal' after:
    the traded signals, regime filters included). One pass: the signals are pivoted into columns
    and every pair's correlations are aggregates of the same scan. -#}
{{ config(materialized='table', tags=['alpha']) }}
{%- set config = alpha_config() %}
{%- set names = config['signals'] | map(attribute='name') | list if config is not none else [] %}

with

residuals as (

    select signal_name, symbol, ts, score, residual from {{ ref('int_alpha__signals') }}

),

factor_returns as (

    select signal_name, stage, ts, factor_return from {{ ref('int_alpha__factor_returns') }}
    where stage in ('score', 'signal')

),

{%- if names | length < 2 %}

final as (

    select
        cast(null as varchar) as signal_a, cast(null as varchar) as signal_b,
        cast(null as double) as score_correlation_before, cast(null as double) as residual_correlation_after,
        cast(null as bigint) as n_score_pairs, cast(null as bigint) as n_residual_pairs,
        cast(null as double) as factor_return_correlation_before, cast(null as double) as factor_return_correlation_after
    from residuals
    where false

)

{%- else %}

wide_values as (

    select
        symbol,
        ts
        {%- for name in names %},
        max(score) filter (where signal_name = '{{ name }}') as score__{{ name }},
        max(residual) filter (where signal_name = '{{ name }}') as residual__{{ name }}
        {%- endfor %}
    from residuals
    group by symbol, ts

),

wide_returns as (

    select
        ts
        {%- for name in names %},
        max(factor_return) filter (where signal_name = '{{ name }}' and stage = 'score') as before__{{ name }},
        max(factor_return) filter (where signal_name = '{{ name }}' and stage = 'signal') as after__{{ name }}
        {%- endfor %}
    from factor_returns
    group by ts

),

value_pairs as (

    select unnest([
        {%- for a in names %}{% set outer = loop %}{% for b in names[outer.index:] %}
        {'signal_a': '{{ a }}', 'signal_b': '{{ b }}',
         'score_correlation_before': corr(score__{{ b }}, score__{{ a }}),
         'residual_correlation_after': corr(residual__{{ b }}, residual__{{ a }}),
         'n_score_pairs': count(score__{{ a }}) filter (where score__{{ b }} is not null),
         'n_residual_pairs': count(residual__{{ a }}) filter (where residual__{{ b }} is not null)}
        {{- "," if not (outer.last and loop.last) }}
        {%- endfor %}{% endfor %}
    ]) as record
    from wide_values

),

return_pairs as (

    select unnest([
        {%- for a in names %}{% set outer = loop %}{% for b in names[outer.index:] %}
        {'signal_a': '{{ a }}', 'signal_b': '{{ b }}',
         'factor_return_correlation_before': corr(before__{{ b }}, before__{{ a }}),
         'factor_return_correlation_after': corr(after__{{ b }}, after__{{ a }})}
        {{- "," if not (outer.last and loop.last) }}
        {%- endfor %}{% endfor %}
    ]) as record
    from wide_returns

),

final as (

    select
        value_pairs.record.signal_a,
        value_pairs.record.signal_b,
        value_pairs.record.score_correlation_before,
        value_pairs.record.residual_correlation_after,
        value_pairs.record.n_score_pairs,
        value_pairs.record.n_residual_pairs,
        return_pairs.record.factor_return_correlation_before,
        return_pairs.record.factor_return_correlation_after
    from value_pairs
    inner join return_pairs on return_pairs.record.signal_a = value_pairs.record.signal_a
        and return_pairs.record.signal_b = value_pairs.record.signal_b

)

{%- endif %}

select * from final
order by signal_a, signal_b
