{#- Helpers of the feature marts (fct_features, dim_states). -#}

{#- `comment on column` statements documenting every feature column of `relation` from its spec
    entry (description, unit, lookback, formula): fct_features' post-hook, so the warehouse catalog
    (and BI tools reading it) always describe the spec that built the table. -#}
{% macro feature_column_comments(relation) -%}
    {%- set catalog = feature_spec_json("feature_catalog_json()") -%}
    {%- if catalog is none -%}
        {{ return("select 1") }}
    {%- endif -%}
    {%- set statements = [] -%}
    {%- for block in feature_block_order() -%}
        {%- for feature in catalog['blocks'][block] -%}
            {%- set text = feature['description'] ~ ' [unit: ' ~ feature['unit'] ~ '; lookback: '
                ~ feature['lookback_bars'] ~ ' bars; block: ' ~ block ~ '; formula: ' ~ feature['formula'] ~ ']' -%}
            {%- do statements.append("comment on column " ~ relation ~ "." ~ adapter.quote(feature['name'])
                ~ " is " ~ lake_sql_string(text)) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(statements | join(";\n")) }}
{%- endmacro %}


{#- `comment on column` statements documenting every state column of `relation` (dim_states). -#}
{% macro state_column_comments(relation) -%}
    {%- set plan = feature_spec_json("state_plan_json()") -%}
    {%- if plan is none or not plan['states'] -%}
        {{ return("select 1") }}
    {%- endif -%}
    {%- set statements = [] -%}
    {%- for state in plan['states'] -%}
        {%- set text = state['description'] ~ ' [labels: ' ~ (state['labels'] | join(', ')) ~ '; inputs: '
            ~ (state['inputs'] | join(', ')) ~ ']' -%}
        {%- do statements.append("comment on column " ~ relation ~ "." ~ adapter.quote(state['name'])
            ~ " is " ~ lake_sql_string(text)) -%}
    {%- endfor -%}
    {{ return(statements | join(";\n")) }}
{%- endmacro %}


{#- The select of fct_features: the rows of `bars` (fct_bars) with every feature column of the block
    models. `blocks` maps block name -> relation; `catalog` is feature_catalog_json() (none at parse
    time: keys only). -#}
{% macro feature_mart_select(bars, blocks, catalog) -%}
    {{ return(adapter.dispatch('feature_mart_select', 'binance_warehouse')(bars, blocks, catalog)) }}
{%- endmacro %}

{#- The select list both variants share: the bar key, then every feature in block order. -#}
{% macro feature_mart_columns(catalog) -%}
    select
        bars.symbol,
        bars.ts,
        bars.available_at,
        bars.is_gap
        {%- if catalog is not none %}
        {%- for block in feature_block_order() %}
        {%- for feature in catalog['blocks'][block] %},
        {{ block }}.{{ feature['name'] }}
        {%- endfor %}
        {%- endfor %}
        {%- endif %}
{%- endmacro %}

{#- Portable: hash joins on (symbol, ts). -#}
{% macro default__feature_mart_select(bars, blocks, catalog) -%}
    {{ feature_mart_columns(catalog) }}
    from {{ bars }} as bars
    {%- for block in feature_block_order() %}
    left join {{ blocks[block] }} as {{ block }}
        on {{ block }}.symbol = bars.symbol
        and {{ block }}.ts = bars.ts
    {%- endfor %}
{%- endmacro %}

{#- DuckDB: every block model and fct_bars are stored ordered by (symbol, ts) with the same rows,
    so the blocks are lined up by position (POSITIONAL JOIN): no hash table of the wide result,
    which keeps the build streaming and within a few GB at 20 symbols x 2 years. The WHERE clause
    checks every row's key against fct_bars and fails the build if any block is out of line. -#}
{% macro duckdb__feature_mart_select(bars, blocks, catalog) -%}
    {{ feature_mart_columns(catalog) }}
    from (select symbol, ts, available_at, is_gap from {{ bars }}) as bars
    {%- for block in feature_block_order() %}
    positional join {{ blocks[block] }} as {{ block }}
    {%- endfor %}
    where case
        when false
        {%- for block in feature_block_order() %}
            or {{ block }}.symbol is distinct from bars.symbol or {{ block }}.ts is distinct from bars.ts
        {%- endfor %}
            then error('fct_features: a feature block is not row-aligned with fct_bars (both must hold the same rows ordered by symbol, ts)')
        else true
    end
{%- endmacro %}
