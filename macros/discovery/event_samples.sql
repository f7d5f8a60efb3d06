{#- `event_samples(sample_window)`: every fired event at every horizon of one evaluation window
    (int_events__outcomes.sample_window: 'discovery' for phases 1 and 2, 'holdout' for the bridge
    evaluation; dim_evaluation_windows defines them) with its bar index and the market states at
    the event bar (dim_states, known at the event bar's close), one row per event x horizon. -#}
{% macro event_samples(sample_window) -%}
{%- set settings = discovery_settings() -%}
with

outcomes as (

    select * from {{ ref('int_events__outcomes') }} where sample_window = '{{ sample_window }}'

),

states as (

    select * from {{ ref('dim_states') }}

),

final as (

    select
        outcomes.event_type,
        outcomes.family,
        outcomes.symbol,
        outcomes.ts,
        cast(epoch(outcomes.ts) // {{ settings['bar_seconds'] }} as bigint) as bar_index,
        outcomes.horizon_bars,
        outcomes.direction_sign,
        outcomes.gross_return,
        outcomes.funding_rate_sum,
        outcomes.funding_known,
        outcomes.round_trip_cost_bps,
        outcomes.cost_config_digest,
        outcomes.sample_window
        {%- for state in settings['conditioning_states'] %},
        states.{{ state }}
        {%- endfor %}
    from outcomes
    left join states on states.symbol = outcomes.symbol and states.ts = outcomes.ts

)

select * from final
order by event_type, symbol, horizon_bars, ts
{%- endmacro %}
