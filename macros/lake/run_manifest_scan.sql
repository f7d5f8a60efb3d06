{#-
    `run_manifest_scan()`: relation expression over the run manifests `backtest run` writes to
    reports/<run_id>/run_manifest.json (var reports_root), or a typed zero-row select while there
    are none. Columns and types come from source `runs.manifests` in models/staging/__sources.yml,
    as for ledger_scan. Checked at execution time: the models reading it carry tag run_manifest
    and are rebuilt at the end of every run.
-#}

{% macro run_manifest_scan() -%}
    {{ return(adapter.dispatch('run_manifest_scan', 'binance_warehouse')()) }}
{%- endmacro %}

{% macro default__run_manifest_scan() -%}
    {{ exceptions.raise_compiler_error(
        "run_manifest_scan: reading JSON files is not implemented for adapter '" ~ adapter.type()
        ~ "'; add a " ~ adapter.type() ~ "__run_manifest_scan macro in macros/lake/.") }}
{%- endmacro %}

{% macro duckdb__run_manifest_scan() -%}
    {%- set relation = source('runs', 'manifests') -%}
    {%- if not execute -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set node = lake_source_node('runs', 'manifests') -%}
    {%- set pattern = (var('reports_root') | string).rstrip('/') ~ '/' ~ lake_node_meta(node).get('reports_glob') -%}
    {%- if lake_files_exist(pattern) -%}
        {%- set typed = [] -%}
        {%- for column in node.columns.values() if lake_node_meta(column).get('lake_origin', 'file') == 'file' -%}
            {%- do typed.append(lake_sql_string(column.name) ~ ': ' ~ lake_sql_string(column.data_type)) -%}
        {%- endfor -%}
        read_json({{ lake_sql_string(pattern) }}, format = 'auto', records = true, filename = true, hive_partitioning = false, columns = { {{- typed | join(', ') -}} })
    {%- else -%}
        {{ lake_empty_relation(node) }}
    {%- endif -%}
{%- endmacro %}
