{#- Walk-forward splits, two schemes: the bars of fct_bars cut into n_splits + 1 chunks of equal
    length on the bar grid (spec/backtest.yaml walkforward); split i (1..n_splits) tests chunk i,
    [test_start, test_end), and trains on [train_start, train_end) where train_end = test_start -
    embargo_bars (the discovery embargo, at least entry lag + the longest horizon) and train_start
    is the data start ('anchored') or rolling_train_chunks chunks before train_end ('rolling'). A
    training event is purged when its label (entry lag + horizon) reaches train_end. -#}
{{ config(materialized='table', tags=['backtest', 'walkforward']) }}
{%- set settings = backtest_settings() %}
{%- set walk = settings.get('walkforward', {'n_splits': 1, 'rolling_train_chunks': 1}) %}
{%- set discovery = discovery_settings() %}
{%- set embargo = discovery.get('evaluation_windows', {}).get('embargo_bars', 0) %}
{%- set bar_seconds = discovery['bar_seconds'] %}

with

bars as (

    select min(ts) as data_start, max(ts) + to_seconds({{ bar_seconds }}) as data_end from {{ ref('fct_bars') }}

),

chunks as (

    select
        data_start,
        data_end,
        cast(floor(epoch(data_end - data_start) / {{ bar_seconds }} / {{ walk['n_splits'] + 1 }}) as bigint) as chunk_bars
    from bars
    where data_start is not null

),

usable as (

    select * from chunks where chunk_bars > 0

),

splits as (

    select
        chunks.*,
        split_index,
        data_start + to_seconds({{ bar_seconds }} * chunk_bars * split_index) as test_start,
        data_start + to_seconds({{ bar_seconds }} * chunk_bars * (split_index + 1)) as test_end
    from usable as chunks
    cross join range(1, {{ walk['n_splits'] + 1 }}) as split_range(split_index)

),

schemes as (

    select
        scheme,
        splits.*,
        splits.test_start - to_seconds({{ bar_seconds }} * {{ embargo }}) as train_end
    from splits
    cross join (values ('anchored'), ('rolling')) as scheme_list(scheme)

),

final as (

    select
        scheme,
        cast(split_index as integer) as split_index,
        case scheme
            when 'anchored' then data_start
            else greatest(data_start, train_end - to_seconds({{ bar_seconds }} * chunk_bars * {{ walk['rolling_train_chunks'] }}))
        end as train_start,
        train_end,
        test_start,
        test_end,
        cast({{ embargo }} as integer) as embargo_bars,
        chunk_bars,
        train_end > case scheme
            when 'anchored' then data_start
            else greatest(data_start, train_end - to_seconds({{ bar_seconds }} * chunk_bars * {{ walk['rolling_train_chunks'] }}))
        end as trainable
    from schemes

)

select * from final
order by scheme, split_index
