{#- Backtest PnL per bar at three levels (level): 'strategy' (each strategy standalone, its own trades
    and costs; rows only where it holds or trades a position), 'symbol' (the strategies of a symbol
    netted: offsetting trades are not paid twice; rows where the net position is held or traded)
    and 'portfolio' (every bar of the window: the sum of the symbols). Every amount is a fraction of
    spec/backtest.yaml capital_usd; net = gross - fees - spread - impact + funding. -#}
{{ config(materialized='table', tags=['backtest']) }}

with

simulation as (

    select * from {{ ref('int_backtest__simulation') }} where row_kind <> 'halt'

),

strategies as (

    select strategy_id, strategy_source, blueprint_id, event_type from {{ ref('int_backtest__strategies') }}

),

final as (

    select
        simulation.row_kind as level,
        simulation.strategy_id,
        strategies.strategy_source,
        strategies.blueprint_id,
        strategies.event_type,
        simulation.symbol,
        simulation.ts,
        simulation.position,
        simulation.traded,
        simulation.gross,
        simulation.fees,
        simulation.spread,
        simulation.impact,
        simulation.funding,
        simulation.net,
        simulation.expected_slippage,
        simulation.binding_layer,
        simulation.execution_mode
    from simulation
    left join strategies on strategies.strategy_id = simulation.strategy_id

)

select * from final
order by level, strategy_id, symbol, ts
