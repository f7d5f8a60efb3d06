{#- Factor returns of the alpha bundle's signals per bar: the return over the bar of a
    dollar-neutral, unit-gross book on the signal formed at the previous bar's close, gross of costs,
    at three stages - 'score' (before orthogonalisation), 'residual' (after it) and 'signal' (after
    it, with the regime filters: what the bundle trades) - with the running sum of the known returns
    and whether the bar is in the backtest window. -#}
{{ config(materialized='table', tags=['alpha']) }}

with

factor_returns as (

    select signal_name, stage, ts, factor_return, cumulative_return from {{ ref('int_alpha__factor_returns') }}

),

signals as (

    select signal_name, signal_family from {{ ref('dim_alpha_signals') }}

),

window_bounds as (

    select backtest_start, backtest_end from {{ ref('int_backtest__window') }}

),

final as (

    select
        factor_returns.signal_name,
        signals.signal_family,
        factor_returns.stage,
        factor_returns.ts,
        factor_returns.factor_return,
        factor_returns.cumulative_return,
        coalesce(factor_returns.ts >= window_bounds.backtest_start and factor_returns.ts < window_bounds.backtest_end,
                 false) as in_backtest_window
    from factor_returns
    left join signals on signals.signal_name = factor_returns.signal_name
    cross join window_bounds

)

select * from final
