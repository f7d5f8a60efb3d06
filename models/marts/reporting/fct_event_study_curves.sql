{#- Event-study curves per event family for the run report (ingest/reporting): per family and
    relative bar k from -24 to +48 around the event bar i, the mean cumulative return (bps) of a
    position signed by the event's direction (long for direction none, as in phase 1), its standard
    error and n. Every value is relative to the entry price, the open of bar i + entry_lag_bars
    (spec/global_defaults.yaml, as in int_labels__forward_returns):
    - held bars (k >= entry_lag_bars): side x (close of bar i + k / entry price - 1) minus the
      round-trip execution cost at the event bar (int_costs__event_execution), i.e. the after-cost
      return of a trade exited at that bar's close (funding is not included); NULL when the cost is
      unknown;
    - earlier bars (k < entry_lag_bars): side x (close of bar i + k / entry price - 1), no cost: where
      the price stood before the entry, relative to it (a run-up in the event's direction shows as a
      negative value climbing to 0).
    A value is NULL when any bar between bar i + k and the entry bar is a gap or missing. The
    pre-event part reads the past and the held part is a label, so this is a label model (tag
    'label', exempt from the PIT linter): a diagnostic, never an input of discovery. Events of one
    family firing on the same symbol, bar and side count once. The standard error treats events as
    independent; overlapping events make it optimistic. -#}
{{ config(materialized='table', tags=['label', 'reporting']) }}
{%- set settings = discovery_settings() %}
{%- set lag = settings['entry_lag_bars'] %}
{%- set first_relative_bar, last_relative_bar = -24, 48 %}

with

events as (

    select distinct
        family,
        symbol,
        ts,
        case direction when 'down' then -1 else 1 end as side_sign
    from {{ ref('fct_events') }}

),

costs as (

    select symbol, ts, round_trip_cost_bps from {{ ref('int_costs__event_execution') }}

),

bars as (

    select
        symbol,
        ts,
        is_gap,
        open,
        close,
        cast(epoch(ts) // {{ settings['bar_seconds'] }} as bigint) as bar_index,
        sum(case when is_gap then 1 else 0 end) over (
            partition by symbol order by ts rows between unbounded preceding and current row
        ) as gaps_through
    from {{ ref('fct_bars') }}

),

relative_bars as (

    select unnest(range({{ first_relative_bar }}, {{ last_relative_bar + 1 }})) as relative_bar

),

anchored as (

    select
        events.family,
        events.symbol,
        events.ts,
        events.side_sign,
        costs.round_trip_cost_bps,
        at_event.bar_index as event_index,
        entry_bar.bar_index as entry_index,
        entry_bar.open as entry_price,
        entry_bar.is_gap as entry_is_gap,
        entry_bar.gaps_through as entry_gaps_through
    from events
    inner join bars as at_event on at_event.symbol = events.symbol and at_event.ts = events.ts
    left join bars as entry_bar
        on entry_bar.symbol = events.symbol and entry_bar.bar_index = at_event.bar_index + {{ lag }}
    left join costs on costs.symbol = events.symbol and costs.ts = events.ts

),

paths as (

    select
        anchored.family,
        anchored.side_sign,
        anchored.round_trip_cost_bps,
        anchored.entry_price,
        relative_bars.relative_bar,
        relative_bars.relative_bar >= {{ lag }} as is_held,
        target_bar.close as target_close,
        -- gaps in the closed span of bars between the target bar and the entry bar
        case
            when target_bar.bar_index is null or anchored.entry_index is null then null
            when target_bar.bar_index >= anchored.entry_index
                then target_bar.gaps_through - anchored.entry_gaps_through + case when anchored.entry_is_gap then 1 else 0 end
            else anchored.entry_gaps_through - target_bar.gaps_through + case when target_bar.is_gap then 1 else 0 end
        end as gaps_in_span
    from anchored
    cross join relative_bars
    left join bars as target_bar
        on target_bar.symbol = anchored.symbol
        and target_bar.bar_index = anchored.event_index + relative_bars.relative_bar

),

returns as (

    select
        family,
        relative_bar,
        is_held,
        round_trip_cost_bps,
        case
            when gaps_in_span = 0 and entry_price > 0 and target_close > 0
                then side_sign * (target_close / entry_price - 1) * 10000
                    - case when is_held then round_trip_cost_bps else 0 end
        end as cumulative_return_bps
    from paths

),

curves as (

    select
        family,
        relative_bar,
        any_value(is_held) as is_held,
        count(*) as n_events,
        count(cumulative_return_bps) as n,
        avg(cumulative_return_bps) as mean_return_bps,
        stddev_samp(cumulative_return_bps) as std_return_bps,
        stddev_samp(cumulative_return_bps) / sqrt(count(cumulative_return_bps)) as se_return_bps,
        avg(case when is_held and cumulative_return_bps is not null then round_trip_cost_bps end)
            as mean_round_trip_cost_bps
    from returns
    group by family, relative_bar

),

final as (

    select
        family,
        relative_bar,
        {{ lag }} as entry_lag_bars,
        is_held,
        n_events,
        n,
        mean_return_bps,
        std_return_bps,
        se_return_bps,
        mean_return_bps - 1.96 * se_return_bps as ci95_low_bps,
        mean_return_bps + 1.96 * se_return_bps as ci95_high_bps,
        mean_round_trip_cost_bps
    from curves

)

select * from final
order by family, relative_bar
