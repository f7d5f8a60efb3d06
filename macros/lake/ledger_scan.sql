{#-
    `ledger_scan()`: relation expression over the ingest ledger's JSON files
    (ingest/lake.py ledger_path), or a typed zero-row select while there are none. Columns and
    types come from source `ingest.ledger` in models/staging/__sources.yml, as for lake_scan.
-#}

{% macro ledger_scan() -%}
    {{ return(adapter.dispatch('ledger_scan', 'binance_warehouse')()) }}
{%- endmacro %}

{% macro default__ledger_scan() -%}
    {{ exceptions.raise_compiler_error(
        "ledger_scan: reading JSON files is not implemented for adapter '" ~ adapter.type()
        ~ "'; add a " ~ adapter.type() ~ "__ledger_scan macro in macros/lake/.") }}
{%- endmacro %}

{% macro duckdb__ledger_scan() -%}
    {%- set relation = source('ingest', 'ledger') -%}
    {%- if not execute -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set node = lake_source_node('ingest', 'ledger') -%}
    {%- set pattern = lake_path(lake_node_meta(node).get('lake_glob', 'ledger/**/*.json')) -%}
    {%- if lake_files_exist(pattern) -%}
        {%- set typed = [] -%}
        {%- for column in node.columns.values() if lake_node_meta(column).get('lake_origin', 'file') == 'file' -%}
            {%- do typed.append(lake_sql_string(column.name) ~ ': ' ~ lake_sql_string(column.data_type)) -%}
        {%- endfor -%}
        {#- hive_partitioning = false: the folder names (symbol=, interval=) repeat fields of the document. -#}
        read_json({{ lake_sql_string(pattern) }}, format = 'auto', records = true, filename = true, hive_partitioning = false, columns = { {{- typed | join(', ') -}} })
    {%- else -%}
        {{ lake_empty_relation(node) }}
    {%- endif -%}
{%- endmacro %}
