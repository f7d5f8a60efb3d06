{#- Discovery re-run on each walk-forward split, in SQL: for every scheme and split of
    dim_walkforward_splits, every hypothesis of fct_phase2_candidates with enough training events is
    tested on its training window alone (purged: a training event's label ends before train_end):
    the mean after-cost return per trade, a t-statistic on an effective count (the events, at most
    one per horizon of training bars, since overlapping trades are not independent), the one-sided
    p-value (Student t) and the Benjamini-Hochberg q-value over all the split's tested hypotheses.
    A hypothesis is selected when q <= max_q_value and its mean reaches
    min_after_cost_expectancy_bps (spec/gates.yaml gate_v1_phase2). Its out-of-sample trades are
    the events of the test window. Simpler than phase 2 (no HAC, no shrinkage, one BH family):
    the walk-forward asks whether the selection procedure, re-run on the past, picks edges that
    survive the next window. -#}
{{ config(materialized='table', tags=['backtest', 'walkforward', 'label']) }}
{%- set gates = spec('gates').get('gate_v1_phase2', {}) if execute else {} %}
{%- set discovery = discovery_settings() %}
{%- set bar_seconds = discovery['bar_seconds'] %}

with

splits as (

    select * from {{ ref('dim_walkforward_splits') }} where trainable

),

returns as (

    select * from {{ ref('int_walkforward__candidate_returns') }}

),

candidates as (

    select candidate_id, event_type, family, symbol, horizon_bars, rule_template, side, state_name, state_value
    from {{ ref('fct_phase2_candidates') }}

),

in_sample as (

    select
        splits.scheme,
        splits.split_index,
        returns.candidate_id,
        any_value(returns.horizon_bars) as horizon_bars,
        count(*) as is_n,
        avg(returns.return_bps) as is_mean_bps,
        stddev_samp(returns.return_bps) as is_std_bps,
        least(count(*), floor(epoch(any_value(splits.train_end) - any_value(splits.train_start))
                              / {{ bar_seconds }} / any_value(returns.horizon_bars))) as is_n_effective
    from splits
    inner join returns
        on returns.ts >= splits.train_start
        and returns.ts + to_seconds({{ bar_seconds }} * (returns.entry_lag_bars + returns.horizon_bars)) <= splits.train_end
    group by 1, 2, 3

),

tested as (

    select
        *,
        is_mean_bps / (is_std_bps / sqrt(is_n_effective)) as is_t_stat,
        student_t_sf(is_mean_bps / (is_std_bps / sqrt(is_n_effective)), is_n_effective - 1) as is_p_value,
        count(*) over (partition by scheme, split_index) as n_tested
    from in_sample
    where is_n_effective >= {{ gates.get('min_events', 30) }} and is_std_bps > 0

),

ranked as (

    select
        *,
        least(1.0, min(is_p_value * n_tested / p_rank) over (
            partition by scheme, split_index order by is_p_value desc, candidate_id desc
            rows between unbounded preceding and current row)) as is_q_value
    from (
        select *, row_number() over (partition by scheme, split_index order by is_p_value, candidate_id) as p_rank
        from tested
    )

),

selected as (

    select
        *,
        is_q_value <= {{ gates.get('max_q_value', 0.05) }}
            and is_mean_bps >= {{ gates.get('min_after_cost_expectancy_bps', 0.0) }} as is_selected
    from ranked

),

out_of_sample as (

    select
        selected.scheme,
        selected.split_index,
        selected.candidate_id,
        count(returns.return_bps) as oos_n,
        avg(returns.return_bps) as oos_mean_bps,
        stddev_samp(returns.return_bps) as oos_std_bps,
        avg(case when returns.return_bps > 0 then 1.0 else 0.0 end) as oos_hit_rate
    from selected
    inner join splits on splits.scheme = selected.scheme and splits.split_index = selected.split_index
    left join returns
        on returns.candidate_id = selected.candidate_id
        and returns.ts >= splits.test_start and returns.ts < splits.test_end
    where selected.is_selected
    group by 1, 2, 3

),

final as (

    select
        selected.scheme,
        selected.split_index,
        selected.candidate_id,
        candidates.event_type,
        candidates.family,
        candidates.symbol,
        candidates.horizon_bars,
        candidates.rule_template,
        candidates.side,
        candidates.state_name,
        candidates.state_value,
        selected.is_n,
        selected.is_n_effective,
        selected.is_mean_bps,
        selected.is_std_bps,
        selected.is_t_stat,
        selected.is_p_value,
        selected.is_q_value,
        selected.n_tested,
        selected.is_selected,
        out_of_sample.oos_n,
        out_of_sample.oos_mean_bps,
        out_of_sample.oos_std_bps,
        out_of_sample.oos_hit_rate
    from selected
    inner join candidates using (candidate_id)
    left join out_of_sample using (scheme, split_index, candidate_id)

)

select * from final
order by scheme, split_index, is_p_value, candidate_id
