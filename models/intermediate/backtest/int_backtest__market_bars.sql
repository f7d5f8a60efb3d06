{#- The market the backtest engine trades, one row per symbol and bar of the backtest window (the
    regular grid of fct_bars; open and close NULL at gaps), with:
    - the funding rate settled at the bar's close (a settlement in (ts, available_at]; 0 when none is
      due; NULL when the funding series cannot say: before its first settlement, after it stopped
      (the next settlement overdue by more than clean.funding_max_delay_minutes) or inside a hole
      left by a missing settlement), each settlement at its real interval;
    - the cost inputs of a fill into the bar, known at the previous bar's close: the half spread
      (quoted, else Corwin-Schultz, never below the floor of spec/costs.yaml), the 1-day realised
      volatility of 5-minute returns in bps, the last day's mean bar quote volume and the previous
      bar's quote volume;
    - previous_close: the last close before the bar (the mark of a position carried into it).
    Tagged 'label': an outcome table (the PnL it prices is realised after the fact), it may look
    forward - whether the next settlement arrived decides if a bar sits in a funding hole. Signals
    and positions never read it (int_backtest__entry_signals reads only events and states). -#}
{{ config(materialized='table', tags=['backtest', 'label']) }}
{%- set discovery = discovery_settings() %}
{%- set costs = fromjson(run_query("select cost_config_json()").columns[0].values()[0]) if execute else {'spread_floor_bps': 0.5} %}

with

bars as (

    select symbol, ts, available_at, is_gap, open, close, quote_volume from {{ ref('fct_bars') }}

),

features as (

    select symbol, ts, quoted_spread_bps, cs_spread_288, rv_288, quote_volume_mean_288 from {{ ref('fct_features') }}

),

funding as (

    select symbol, settlement_time, funding_rate, funding_interval_hours from {{ ref('stg_binance__funding') }}

),

window_bounds as (

    select backtest_start, backtest_end from {{ ref('int_backtest__window') }}

),

settlements as (

    select
        symbol,
        settlement_time,
        funding_rate,
        settlement_time + to_minutes(cast(funding_interval_hours * 60 as bigint)) as next_due,
        settlement_time + to_minutes(cast(funding_interval_hours * 60 + {{ discovery['funding_max_delay_minutes'] }} as bigint))
            as next_overdue,
        lead(settlement_time) over (partition by symbol order by settlement_time) as next_settlement
    from funding

),

known_before as (

    select
        bars.symbol,
        bars.ts,
        bars.available_at,
        case when not bars.is_gap then bars.open end as open,
        case when not bars.is_gap then bars.close end as close,
        last_value(case when not bars.is_gap then bars.close end ignore nulls) over (
            partition by bars.symbol order by bars.ts rows between unbounded preceding and 1 preceding
        ) as previous_close,
        lag({{ half_spread_bps('features.quoted_spread_bps', 'features.cs_spread_288', costs['spread_floor_bps']) }})
            over by_bar as half_spread_bps,
        lag(features.rv_288 * 10000) over by_bar as volatility_bps,
        lag(features.quote_volume_mean_288) over by_bar as mean_quote_volume,
        lag(bars.quote_volume) over by_bar as last_quote_volume
    from bars
    left join features on features.symbol = bars.symbol and features.ts = bars.ts
    window by_bar as (partition by bars.symbol order by bars.ts)

),

in_window as (

    select known_before.*
    from known_before
    cross join window_bounds
    where known_before.ts >= window_bounds.backtest_start and known_before.ts < window_bounds.backtest_end

),

funded as (

    select
        in_window.*,
        settlements.settlement_time,
        settlements.funding_rate as last_rate,
        settlements.next_due,
        settlements.next_overdue,
        settlements.next_settlement
    from in_window
    asof left join settlements
        on settlements.symbol = in_window.symbol and in_window.available_at >= settlements.settlement_time

),

final as (

    select
        symbol,
        ts,
        available_at,
        open,
        close,
        previous_close,
        case
            when settlement_time is null then null
            when settlement_time > ts then last_rate
            when available_at < next_due then 0.0
            when next_settlement is not null and next_settlement <= next_overdue then 0.0
            when next_settlement is null and available_at <= next_overdue then 0.0
        end as funding_rate,
        half_spread_bps,
        volatility_bps,
        mean_quote_volume,
        last_quote_volume
    from funded

)

select * from final
order by symbol, ts
