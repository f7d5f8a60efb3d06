{#- Point-in-time features, one row per fct_bars row (symbol, ts), one column per feature of
    spec/features/*.yaml, assembled from the feature block models (feature_mart_select). A feature
    at ts uses only data known by available_at = ts + 5m and is NULL when its window (lookback_bars
    + 1 bars ending at ts) touches a gap or the start of the symbol's history. Column comments
    come from the spec. -#}
{{ config(
    materialized='table',
    tags=['features'],
    post_hook="{{ feature_column_comments(this) }}",
) }}
{%- set blocks = {} -%}
{%- for block in feature_block_order() -%}
    {%- do blocks.update({block: ref('int_features__' ~ block)}) -%}
{%- endfor -%}
{%- set catalog = feature_spec_json("feature_catalog_json()") %}

with

final as (

    {{ feature_mart_select(ref('fct_bars'), blocks, catalog) }}

)

select * from final
