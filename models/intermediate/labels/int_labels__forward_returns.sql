{#- Forward returns of every event bar (a bar of fct_events) at every discovery horizon: the only
    model family allowed to look forward (tag 'label', exempt from the PIT linter). Entry at the open
    of bar i + entry_lag_bars (i = the event bar, lag >= 1 from spec/global_defaults.yaml), exit at the
    close of bar i + entry_lag_bars + horizon - 1; NULL when any bar of that window is a gap or
    missing. Funding: the sum of the rates settled in (entry, exit] from the historical series with its
    real interval, for a long position; funding_known = false when the series does not cover the
    window (a missing settlement, or data that stopped), never zero.

    Incremental (macros/incremental): the labels of the events from entry_lag_bars + the longest
    horizon - 1 bars before the cutoff on (whose forward window was not complete at the last build,
    or whose event was rewritten) are computed again, from the bars from there on and the whole
    funding series (running sums over the same settlements as a full build). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='symbol_window',
    tags=['label', 'discovery'],
    post_hook="{{ incremental_record_state() }}",
) }}
{%- set settings = discovery_settings() %}
{%- set lag = settings['entry_lag_bars'] %}
{%- set bar_seconds = settings['bar_seconds'] %}

{%- set body %}
with

bars as (

    select symbol, ts, available_at, is_gap, open, close from {{ ref('fct_bars') }}
    where {{ incremental_write() }}

),

events as (

    select distinct symbol, ts from {{ ref('fct_events') }}
    where {{ incremental_write() }}

),

funding as (

    select symbol, settlement_time, funding_rate, funding_interval_hours from {{ ref('stg_binance__funding') }}

),

horizons as (

    select unnest({{ settings['horizons_bars'] }}) as horizon_bars

),

indexed_bars as (

    select
        symbol,
        ts,
        available_at,
        is_gap,
        open,
        close,
        cast(epoch(ts) // {{ bar_seconds }} as bigint) as bar_index,
        sum(case when is_gap then 1 else 0 end) over (
            partition by symbol order by ts rows between unbounded preceding and current row
        ) as gaps_through
    from bars

),

-- Running sum of settled rates, and of holes in the series: a settlement later than its interval
-- (plus the allowed delay) after the previous one means one or more settlements are missing.
settlements as (

    select
        symbol,
        settlement_time,
        sum(funding_rate) over running as rate_through,
        sum(case when previous_settlement is not null
                  and settlement_time > previous_settlement
                      + to_minutes(cast(funding_interval_hours * 60 + {{ settings['funding_max_delay_minutes'] }} as bigint))
                 then 1 else 0 end) over running as holes_through,
        settlement_time + to_minutes(cast(funding_interval_hours * 60 + {{ settings['funding_max_delay_minutes'] }} as bigint))
            as covered_until
    from (
        select *, lag(settlement_time) over (partition by symbol order by settlement_time) as previous_settlement
        from funding
    )
    window running as (partition by symbol order by settlement_time rows between unbounded preceding and current row)

),

windows as (

    select
        events.symbol,
        events.ts,
        horizons.horizon_bars,
        indexed_bars.bar_index + {{ lag }} as entry_index,
        indexed_bars.bar_index + {{ lag }} + horizons.horizon_bars - 1 as last_index
    from events
    inner join indexed_bars on indexed_bars.symbol = events.symbol and indexed_bars.ts = events.ts
    cross join horizons

),

priced as (

    select
        windows.symbol,
        windows.ts,
        windows.horizon_bars,
        entry_bar.ts as entry_ts,
        exit_bar.available_at as exit_ts,
        entry_bar.open as entry_price,
        exit_bar.close as exit_price,
        exit_bar.gaps_through - entry_bar.gaps_through + case when entry_bar.is_gap then 1 else 0 end as gaps_in_window
    from windows
    left join indexed_bars as entry_bar
        on entry_bar.symbol = windows.symbol and entry_bar.bar_index = windows.entry_index
    left join indexed_bars as exit_bar
        on exit_bar.symbol = windows.symbol and exit_bar.bar_index = windows.last_index

),

funded as (

    select
        priced.*,
        at_exit.rate_through - at_entry.rate_through as funding_rate_sum,
        at_entry.settlement_time is not null
            and at_exit.settlement_time is not null
            and priced.exit_ts <= at_exit.covered_until
            and at_exit.holes_through = at_entry.holes_through as funding_known
    from priced
    asof left join settlements as at_entry
        on at_entry.symbol = priced.symbol and priced.entry_ts >= at_entry.settlement_time
    asof left join settlements as at_exit
        on at_exit.symbol = priced.symbol and priced.exit_ts >= at_exit.settlement_time

),

final as (

    select
        symbol,
        ts,
        horizon_bars,
        {{ lag }} as entry_lag_bars,
        entry_ts,
        exit_ts,
        entry_price,
        exit_price,
        case
            when gaps_in_window = 0 and entry_price > 0 and exit_price > 0 then exit_price / entry_price - 1
        end as gross_return,
        case when coalesce(funding_known, false) then funding_rate_sum end as funding_rate_sum,
        coalesce(funding_known, false) as funding_known,
        coalesce(gaps_in_window > 0 or entry_price is null or exit_price is null, true) as window_touches_gap
    from funded

)

select * from final
order by symbol, ts, horizon_bars
{%- endset %}

{{ incremental_finalize(body, rewrite_bars=label_forward_bars(), source=ref('fct_bars'), coverage=ref('fct_bars')) }}
