{#- Point-in-time features, one row per fct_bars row (symbol, ts), one column per feature of
    spec/features/*.yaml, assembled from the feature block models (feature_mart_select). A feature
    at ts uses only data known by available_at = ts + 5m and is NULL when its window (lookback_bars
    + 1 bars ending at ts) touches a gap or the start of the symbol's history. Column comments
    come from the spec.

    Incremental (macros/incremental): the rows the blocks wrote since the last build are joined on
    (symbol, ts); a full build (or a rebuild after a definition change) lines the whole blocks up
    by position, sorting first any table an incremental run appended to, one range of symbols per
    DuckDB thread written in parallel (macros/features/feature_marts.sql). -#}
{{ config(
    materialized='incremental',
    incremental_strategy='symbol_window',
    tags=['features'],
    pre_hook=["{{ feature_mart_parallel_append(true) }}"],
    post_hook=["{{ feature_mart_parallel_append(false) }}", "{{ feature_column_comments(this) }}",
               "{{ incremental_record_state() }}"],
) }}
{%- set write = incremental_write() -%}
{%- set models = {'fct_bars': ref('fct_bars')} -%}
{%- for block in feature_block_order() -%}
    {%- do models.update({block: ref('int_features__' ~ block)}) -%}
{%- endfor -%}
{%- set states = incremental_states(models.values() | map(attribute='identifier') | list) -%}
{%- set new_rows, whole = {}, {} -%}
{%- for name, relation in models.items() -%}
    {%- do new_rows.update({name: '(select * from ' ~ relation ~ ' where ' ~ write ~ ')'}) -%}
    {%- if states.get(relation.identifier, {}).get('is_sorted', true) -%}
        {%- do whole.update({name: relation}) -%}
    {%- else -%}
        {%- do whole.update({name: '(select * from ' ~ relation ~ ' order by symbol, ts)'}) -%}
    {%- endif -%}
{%- endfor -%}
{%- set blocks, whole_blocks = {}, {} -%}
{%- for block in feature_block_order() -%}
    {%- do blocks.update({block: new_rows[block]}) -%}
    {%- do whole_blocks.update({block: whole[block]}) -%}
{%- endfor -%}
{%- set catalog = feature_spec_json("feature_catalog_json()") -%}

{%- set body -%}
with

final as (

    {{ default__feature_mart_select(new_rows['fct_bars'], blocks, catalog) }}

)

select * from final
order by symbol, ts
{%- endset -%}

{%- set full_body -%}
with

final as (

    {{ feature_mart_select(whole['fct_bars'], whole_blocks, catalog) }}

)

select * from final
{%- endset -%}

{{ incremental_finalize(body, source=ref('fct_bars'), full_body=full_body) }}
