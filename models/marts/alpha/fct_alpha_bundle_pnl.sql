{#- The alpha bundle's backtest PnL per bar: for each portfolio variant of spec/alpha/bundle.yaml,
    'symbol' rows (where the book holds, trades or targets the symbol) and 'portfolio' rows (every
    bar of the backtest window, the sum of the symbols). The engine, caps, costs and funding are the
    blueprints' (int_alpha__simulation); every amount is a fraction of spec/backtest.yaml
    capital_usd and net = gross - fees - spread - impact + funding. -#}
{{ config(materialized='table', tags=['alpha']) }}

with

simulation as (

    select * from {{ ref('int_alpha__simulation') }} where row_kind <> 'halt'

),

final as (

    select
        variant,
        'alpha_bundle:' || variant as strategy_id,
        row_kind as level,
        symbol,
        ts,
        target_weight,
        decided_at,
        position,
        traded,
        gross,
        fees,
        spread,
        impact,
        funding,
        net,
        binding_layer,
        execution_mode
    from simulation

)

select * from final
order by variant, level, symbol, ts
