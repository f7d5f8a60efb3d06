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
    which keeps the build streaming and within a few GB at 20 symbols x 2 years. A positional join
    is read by one thread, and writing ~130 feature columns is most of the model's time, so the
    rows are lined up per range of symbols (feature_mart_ranges), one range per DuckDB thread, and
    the ranges are appended side by side (fct_features turns insertion order off for its build, so
    its rows are stored in no guaranteed order; the blocks it reads keep theirs). -#}
{% macro duckdb__feature_mart_select(bars, blocks, catalog) -%}
    {%- for symbols in feature_mart_ranges() %}
    {%- if not loop.first %}

    union all
    {% endif %}
    {{ feature_mart_aligned(bars, blocks, catalog, symbols) }}
    {%- endfor %}
{%- endmacro %}

{#- The rows of `bars` whose symbol satisfies `symbols` with every block's columns, lined up by
    position. The WHERE clause checks every row's key against fct_bars and fails the build if any
    block is out of line. -#}
{% macro feature_mart_aligned(bars, blocks, catalog, symbols) -%}
    {{ feature_mart_columns(catalog) }}
    from (select symbol, ts, available_at, is_gap from {{ bars }} where {{ symbols }}) as bars
    {%- for block in feature_block_order() %}
    positional join (select * from {{ blocks[block] }} where {{ symbols }}) as {{ block }}
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

{#- Predicates splitting the symbols of fct_bars (the blocks hold the same rows) into contiguous
    ranges of about equal rows, as many as DuckDB has threads; one range, `true`, at parse time,
    before fct_bars exists (a compile on an empty warehouse), or with one thread or symbol. -#}
{% macro feature_mart_ranges() -%}
    {%- set source = load_relation(ref('fct_bars')) if execute else none -%}
    {%- if source is none -%}
        {{ return(['true']) }}
    {%- endif -%}
    {%- set threads = run_query("select current_setting('threads')").columns[0].values()[0] | int -%}
    {%- set counts = run_query("select symbol, count(*) from " ~ source ~ " group by symbol order by symbol") -%}
    {%- set total = counts.columns[1].values() | sum -%}
    {%- set bounds = namespace(starts=[], rows=0) -%}
    {%- for row in counts.rows -%}
        {%- if bounds.rows >= total * ((bounds.starts | length) + 1) / threads -%}
            {%- set bounds.starts = bounds.starts + [row[0]] -%}
        {%- endif -%}
        {%- set bounds.rows = bounds.rows + row[1] -%}
    {%- endfor -%}
    {%- if not bounds.starts -%}
        {{ return(['true']) }}
    {%- endif -%}
    {%- set ranges = ['symbol < ' ~ lake_sql_string(bounds.starts[0])] -%}
    {%- for start in bounds.starts -%}
        {%- set upper = (' and symbol < ' ~ lake_sql_string(bounds.starts[loop.index])) if not loop.last else '' -%}
        {%- do ranges.append('symbol >= ' ~ lake_sql_string(start) ~ upper) -%}
    {%- endfor -%}
    {{ return(ranges) }}
{%- endmacro %}

{#- Pre- and post-hook of fct_features: DuckDB appends the symbol ranges of duckdb__feature_mart_select
    in parallel only with preserve_insertion_order off. It is a global setting: turned off for the
    model's build and put back to what it was (kept in a session variable) right after. -#}
{% macro feature_mart_parallel_append(enable) -%}
    {{ return(adapter.dispatch('feature_mart_parallel_append', 'binance_warehouse')(enable)) }}
{%- endmacro %}

{% macro default__feature_mart_parallel_append(enable) -%}
    select 1
{%- endmacro %}

{% macro duckdb__feature_mart_parallel_append(enable) -%}
    {%- if enable -%}
        set variable feature_mart_insertion_order = current_setting('preserve_insertion_order');
        set preserve_insertion_order = false
    {%- else -%}
        set preserve_insertion_order = coalesce(getvariable('feature_mart_insertion_order'), true)
    {%- endif -%}
{%- endmacro %}
