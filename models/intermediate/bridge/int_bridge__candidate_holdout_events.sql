{#- The holdout events of every promoted phase 2 candidate (promotion_track standard or
    fallback_only): the candidate's event, symbol, horizon and state condition applied to the
    holdout samples, with the side of its rule template resolved to +1 (long) / -1 (short) (NULL for
    a directional template on an event without a direction). One row per candidate x event. -#}
{{ config(materialized='table', tags=['label', 'bridge']) }}
{%- set settings = discovery_settings() %}

with

candidates as (

    select candidate_id, event_type, symbol, horizon_bars, side, state_name, state_value
    from {{ ref('fct_phase2_results') }}
    where promotion_track is not null

),

samples as (

    select * from {{ ref('int_bridge__holdout_samples') }}

),

final as (

    select
        candidates.candidate_id,
        samples.event_type,
        samples.symbol,
        samples.ts,
        samples.bar_index,
        samples.horizon_bars,
        case candidates.side
            when 'long' then 1
            when 'short' then -1
            when 'event_direction' then nullif(samples.direction_sign, 0)
            else -nullif(samples.direction_sign, 0)
        end as side_sign,
        samples.gross_return,
        samples.funding_rate_sum,
        samples.funding_known,
        samples.round_trip_cost_bps,
        samples.cost_config_digest
    from candidates
    inner join samples
        on samples.event_type = candidates.event_type
        and samples.symbol = candidates.symbol
        and samples.horizon_bars = candidates.horizon_bars
        and case candidates.state_name
                when 'all' then true
                {%- for state in settings['conditioning_states'] %}
                when '{{ state }}' then samples.{{ state }} = candidates.state_value
                {%- endfor %}
            end

)

select * from final
order by candidate_id, ts
