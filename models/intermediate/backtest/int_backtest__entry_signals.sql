{#- The entry signals of every strategy: one row per strategy and bar of the backtest window where its
    event fired on its symbol while its state condition held (dim_states at the event bar, known at
    its close), with the side to take: +1 long, -1 short; event_direction follows the event's
    direction ('up' +1, 'down' -1) and against_event_direction opposes it. A directional side on an
    event without a direction gives no signal. The book starts flat: events before backtest_start
    are not traded. -#}
{{ config(materialized='table', tags=['backtest']) }}

with

strategies as (

    select * from {{ ref('int_backtest__strategies') }}

),

events as (

    select symbol, ts, event_type, direction from {{ ref('fct_events') }}

),

states as (

    select * from {{ ref('dim_states') }}

),

window_bounds as (

    select backtest_start, backtest_end from {{ ref('int_backtest__window') }}

),

matched as (

    select
        strategies.strategy_id,
        strategies.strategy_index,
        strategies.symbol,
        events.ts,
        {{ trade_side_sign('strategies.side', "case events.direction when 'up' then 1 when 'down' then -1 else 0 end") }} as side_sign,
        {{ state_condition_holds('strategies.state_name', 'strategies.state_value', 'states') }} as state_holds
    from strategies
    inner join events on events.event_type = strategies.event_type and events.symbol = strategies.symbol
    cross join window_bounds
    left join states on states.symbol = events.symbol and states.ts = events.ts
    where events.ts >= window_bounds.backtest_start and events.ts < window_bounds.backtest_end

),

final as (

    select distinct strategy_id, strategy_index, symbol, ts, cast(side_sign as tinyint) as side_sign
    from matched
    where state_holds and side_sign is not null

)

select * from final
