{#- Walk-forward performance, one row per scheme (anchored, rolling) and split: the windows, how many
    hypotheses the split's re-run discovery tested and selected (fct_walkforward_candidates), their
    in-sample mean after-cost return per trade, and the out-of-sample trades of the selected ones in
    the test window (mean, hit rate, share of selected hypotheses that stayed positive). A selection
    procedure that fits noise shows a large in-sample mean and an out-of-sample mean near or below
    zero. Returns are per trade, in bps of traded notional, trade-weighted across the selected
    hypotheses. -#}
{{ config(materialized='table', tags=['backtest', 'walkforward', 'label']) }}

with

splits as (

    select * from {{ ref('dim_walkforward_splits') }}

),

candidates as (

    select * from {{ ref('fct_walkforward_candidates') }}

),

per_split as (

    select
        scheme,
        split_index,
        count(*) as n_tested,
        count(*) filter (where is_selected) as n_selected,
        sum(is_mean_bps * is_n) filter (where is_selected) / nullif(sum(is_n) filter (where is_selected), 0) as is_mean_bps,
        sum(oos_n) filter (where is_selected) as oos_n_trades,
        sum(oos_mean_bps * oos_n) filter (where is_selected and oos_n > 0)
            / nullif(sum(oos_n) filter (where is_selected and oos_n > 0), 0) as oos_mean_bps,
        sum(oos_hit_rate * oos_n) filter (where is_selected and oos_n > 0)
            / nullif(sum(oos_n) filter (where is_selected and oos_n > 0), 0) as oos_hit_rate,
        avg(case when oos_mean_bps > 0 then 1.0 else 0.0 end) filter (where is_selected and oos_n > 0)
            as share_selected_positive_oos
    from candidates
    group by 1, 2

),

final as (

    select
        splits.scheme,
        splits.split_index,
        splits.train_start,
        splits.train_end,
        splits.test_start,
        splits.test_end,
        splits.embargo_bars,
        splits.trainable,
        coalesce(per_split.n_tested, 0) as n_tested,
        coalesce(per_split.n_selected, 0) as n_selected,
        per_split.is_mean_bps,
        coalesce(per_split.oos_n_trades, 0) as oos_n_trades,
        per_split.oos_mean_bps,
        per_split.oos_hit_rate,
        per_split.share_selected_positive_oos,
        per_split.oos_mean_bps - per_split.is_mean_bps as oos_minus_is_bps
    from splits
    left join per_split using (scheme, split_index)

)

select * from final
order by scheme, split_index
