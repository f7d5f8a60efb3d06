-- The trades of one blueprint in the backtest (dbt var blueprint_id; default the blueprint with the
-- largest sizing hint): each run of same-signed positions from fct_backtest_pnl, with its entry and
-- exit bars, bars held, weight, and gross, cost, funding and net PnL (fractions of capital),
-- including the bar that closes it.
with

blueprint as (

    {%- if var('blueprint_id', none) %}
    select '{{ var("blueprint_id") }}' as blueprint_id
    {%- else %}
    select blueprint_id from {{ ref('dim_blueprints') }} order by sizing_hint_fraction desc, blueprint_id limit 1
    {%- endif %}

),

rows as (

    select pnl.*
    from {{ ref('fct_backtest_pnl') }} as pnl
    inner join blueprint using (blueprint_id)
    where pnl.level = 'strategy'

),

marked as (

    select
        *,
        sign(position) as side,
        lag(sign(position)) over (partition by strategy_id order by ts) as previous_side,
        lag(ts) over (partition by strategy_id order by ts) as previous_ts
    from rows

),

numbered as (

    select
        *,
        sum(case when side <> 0 and (previous_side is distinct from side or previous_ts < ts - interval 5 minute)
                 then 1 else 0 end) over (partition by strategy_id order by ts) as trade_number
    from marked

)

select
    strategy_id,
    symbol,
    trade_number,
    min(ts) filter (where side <> 0) as entry_bar,
    max(ts) filter (where side <> 0) as last_held_bar,
    count(*) filter (where side <> 0) as bars_held,
    max(position) filter (where side <> 0) as max_weight,
    min(position) filter (where side <> 0) as min_weight,
    sum(gross) as gross,
    sum(fees + spread + impact) as costs,
    sum(funding) as funding,
    sum(net) as net
from numbered
where trade_number > 0
group by all
order by strategy_id, trade_number
