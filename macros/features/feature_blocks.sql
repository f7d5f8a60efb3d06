{#-
    Feature stage macros: the spec (spec/features, spec/states) compiled by python_udfs/feature_compiler.py
    and fetched at build time through the SQL functions feature_plan_json(block), state_plan_json()
    and feature_catalog_json() (registered on every connection by python_udfs/duckdb_plugin.py).
    Runs at execution time, so `dbt build` alone picks up a changed formula, window or threshold.
    At parse time (execute = false) they render a typed-free stub that still records the lineage.
-#}

{#- Feature blocks in build order (python_udfs/feature_spec.py BLOCKS; a test keeps them equal).
    A block may use features of earlier blocks, so each block model depends on all earlier ones. -#}
{% macro feature_block_order() -%}
    {{ return(['returns', 'volatility', 'volume', 'microstructure', 'funding', 'basis', 'positioning',
               'liquidations', 'trend', 'cross_section', 'context']) }}
{%- endmacro %}


{#- One JSON plan from the plugin's SQL functions, decoded (none at parse time). -#}
{% macro feature_spec_json(sql_call) -%}
    {%- if not execute -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set result = run_query("select " ~ sql_call) -%}
    {{ return(fromjson(result.columns[0].values()[0])) }}
{%- endmacro %}


{#- The SQL of one feature block model: the compiled layers with every model placeholder replaced
    by its relation. Relations are resolved with ref() before the plan is read, so the lineage
    (fct_bars, the calendar, every earlier block) is recorded at parse time.

    Incremental (macros/incremental): fct_bars and the earlier blocks are read from the cutoff minus
    the block's longest feature lookback, and the rows from the cutoff on are written; a block with
    cross-section features does so for every symbol from the earliest cutoff. -#}
{% macro feature_block(block) -%}
    {%- set order = feature_block_order() -%}
    {%- if block not in order -%}
        {{ exceptions.raise_compiler_error(
            "feature_block('" ~ block ~ "'): unknown block (blocks: " ~ (order | join(', ')) ~ ").") }}
    {%- endif -%}
    {%- set read = incremental_read() -%}
    {%- set relations = {'fct_bars': '(select * from ' ~ ref('fct_bars') ~ ' where ' ~ read ~ ')',
                         'int_calendar__bar_context': ref('int_calendar__bar_context')} -%}
    {%- for earlier in order[:order.index(block)] -%}
        {%- do relations.update({'int_features__' ~ earlier:
            '(select * from ' ~ ref('int_features__' ~ earlier) ~ ' where ' ~ read ~ ')'}) -%}
    {%- endfor -%}
    {%- set plan = feature_spec_json("feature_plan_json('" ~ block ~ "')") -%}
    {%- if plan is none -%}
        {%- set body = 'select symbol, ts from ' ~ relations['fct_bars'] ~ ' where false' -%}
    {%- else -%}
        {%- set body = 'select * from (\n' ~ feature_render_plan(plan, relations) ~ '\n) as block\nwhere '
            ~ incremental_write() ~ '\norder by symbol, ts' -%}
    {%- endif -%}
    {#- A rebuilt block rebuilds the blocks that read it, not every later one. -#}
    {{ return(incremental_finalize(body, lookback_bars=feature_block_lookback(plan),
                                   cross_section=(plan or {}).get('cross_section', false), source=ref('fct_bars'),
                                   reads=(plan or {}).get('relations', {}).values() | list)) }}
{%- endmacro %}


{#- A plan's SQL with its `__relation__<model>__` placeholders replaced. -#}
{% macro feature_render_plan(plan, relations) -%}
    {%- set rendered = {'sql': plan['sql']} -%}
    {%- for placeholder, model in plan['relations'].items() -%}
        {%- if model not in relations -%}
            {{ exceptions.raise_compiler_error(
                "feature block " ~ plan['block'] ~ " reads " ~ model ~ ", which is not one of its declared inputs.") }}
        {%- endif -%}
        {%- do rendered.update({'sql': rendered['sql'] | replace(placeholder, relations[model] | string)}) -%}
    {%- endfor -%}
    {{ return(rendered['sql']) }}
{%- endmacro %}
