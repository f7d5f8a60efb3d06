-- The strongest discoveries of each event family (dbt var top_n, default 5): phase 2 hypotheses
-- ranked by BH q-value then shrunken mean, with their after-cost statistics, gates and promotion.
with

results as (

    select * from {{ ref('fct_phase2_results') }}

),

ranked as (

    select
        *,
        row_number() over (partition by family order by q_bh, shrunken_mean_bps desc, candidate_id) as rank_in_family
    from results
    where is_discovery

)

select
    family,
    rank_in_family,
    event_type,
    symbol,
    horizon_bars,
    rule_template,
    side,
    state_name,
    state_value,
    n,
    n_deoverlapped,
    mean_bps,
    shrunken_mean_bps,
    t_stat,
    q_bh,
    q_by,
    promotion_track
from ranked
where rank_in_family <= {{ var('top_n', 5) }}
order by family, rank_in_family
