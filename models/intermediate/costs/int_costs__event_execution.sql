{#- The execution cost of trading each event bar (a bar of fct_events), per leg and round trip, in
    basis points, from spec/costs.yaml and what is known at the event bar's close: the fee of the
    execution mode, half the quoted spread from the book ticker when known (else half the
    Corwin-Schultz estimate), never below the floor, and a square-root impact of the order notional
    against the last day's mean bar quote volume. Funding is not here: it depends on the holding
    window and is in int_labels__forward_returns. -#}
{{ config(materialized='table', tags=['discovery']) }}
{%- set costs = fromjson(run_query("select cost_config_json()").columns[0].values()[0]) if execute else
    {'fee_bps': 5.0, 'pays_spread': true, 'spread_floor_bps': 0.5, 'impact_coefficient_bps': 10.0,
     'order_notional_usd': 10000.0, 'cost_config_digest': ''} %}

with

events as (

    select distinct symbol, ts from {{ ref('fct_events') }}

),

features as (

    select symbol, ts, quoted_spread_bps, cs_spread_288, quote_volume_mean_288 from {{ ref('fct_features') }}

),

legs as (

    select
        events.symbol,
        events.ts,
        {{ costs['fee_bps'] }} as fee_bps_per_leg,
        {%- if costs['pays_spread'] %}
        {{ half_spread_bps('features.quoted_spread_bps', 'features.cs_spread_288', costs['spread_floor_bps']) }} as half_spread_bps,
        case when features.quoted_spread_bps is not null then 'quoted'
             when features.cs_spread_288 is not null then 'corwin_schultz' end as spread_source,
        {%- else %}
        0.0 as half_spread_bps,
        'maker' as spread_source,
        {%- endif %}
        {{ costs['impact_coefficient_bps'] }}
            * sqrt({{ costs['order_notional_usd'] }} / nullif(features.quote_volume_mean_288, 0)) as impact_bps_per_leg
    from events
    left join features on features.symbol = events.symbol and features.ts = events.ts

),

final as (

    select
        symbol,
        ts,
        fee_bps_per_leg,
        half_spread_bps,
        spread_source,
        impact_bps_per_leg,
        2 * (fee_bps_per_leg + half_spread_bps + impact_bps_per_leg) as round_trip_cost_bps,
        '{{ costs['cost_config_digest'] }}' as cost_config_digest
    from legs

)

select * from final
