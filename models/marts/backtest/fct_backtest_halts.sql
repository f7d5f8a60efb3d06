{#- Every kill-switch halt of the backtest: the strategy (NULL: the whole portfolio), the bar whose
    close breached, the reason (data_staleness, drawdown, slippage_ratio) and the measured value (gap
    bars, drawdown fraction, paid / expected slippage). A drawdown or slippage halt lasts to the end
    of the window; a stale feed closes the positions open across the gap and the strategy trades
    again on its next signal. -#}
{{ config(materialized='table', tags=['backtest']) }}
{%- set settings = backtest_settings() %}

with

halts as (

    select * from {{ ref('int_backtest__simulation') }} where row_kind = 'halt'

),

final as (

    select
        strategy_id,
        symbol,
        ts as halt_bar_ts,
        halt_reason,
        halt_value,
        case halt_reason
            when 'drawdown' then case when strategy_id is null then {{ settings.get('kill_switches', {}).get('portfolio_max_drawdown', 'null') }}
                                      else {{ settings.get('kill_switches', {}).get('strategy_max_drawdown', 'null') }} end
            when 'slippage_ratio' then {{ settings.get('kill_switches', {}).get('max_slippage_ratio', 'null') }}
            when 'data_staleness' then {{ settings.get('kill_switches', {}).get('max_stale_bars', 'null') }}
        end as halt_threshold,
        strategy_id is null as halts_portfolio
    from halts

)

select * from final
order by halt_bar_ts, strategy_id
