{#-
    Reading the Parquet lake (layout: ingest/kinds.py lake_dir).

    `lake_scan(market, kind, interval=none)` returns a relation expression to put after `from`:
      * files exist -> read_parquet over the kind's glob, with the hive columns (symbol, interval)
        and the file path (`filename`);
      * no file yet -> a typed zero-row select, so `dbt build` on an empty lake succeeds.
    The column names and types of the empty case come from the source's `columns:` in
    models/staging/__sources.yml (the one place they are declared). The existence check runs at
    execution time (`execute`), so a view built on an empty lake must be rebuilt after the first
    ingest; once built on files, a view picks up new files by itself (the glob runs at query time).
-#}

{% macro lake_scan(market, kind, interval=none) -%}
    {{ return(adapter.dispatch('lake_scan', 'binance_warehouse')(market, kind, interval)) }}
{%- endmacro %}

{% macro default__lake_scan(market, kind, interval=none) -%}
    {{ exceptions.raise_compiler_error(
        "lake_scan: reading the Parquet lake is not implemented for adapter '" ~ adapter.type()
        ~ "'; add a " ~ adapter.type() ~ "__lake_scan macro in macros/lake/.") }}
{%- endmacro %}

{% macro duckdb__lake_scan(market, kind, interval=none) -%}
    {%- set table_name = lake_source_table_name(market, kind) -%}
    {#- Called outside `execute` on purpose: this is what records the lineage at parse time. -#}
    {%- set relation = source('binance_lake', table_name) -%}
    {%- if not execute -%}
        {{ return(relation) }}
    {%- endif -%}
    {%- set node = lake_source_node('binance_lake', table_name) -%}
    {%- set meta = lake_node_meta(node) -%}
    {%- if meta.get('lake_market') != market or meta.get('lake_kind') != kind -%}
        {{ exceptions.raise_compiler_error(
            "lake_scan(" ~ market ~ ", " ~ kind ~ "): source binance_lake." ~ table_name
            ~ " declares lake_market=" ~ meta.get('lake_market') ~ ", lake_kind=" ~ meta.get('lake_kind')
            ~ " in models/staging/__sources.yml; fix the meta or the call.") }}
    {%- endif -%}
    {%- if interval is not none and not modules.re.match('^[0-9]+[a-z]+$', interval | string) -%}
        {{ exceptions.raise_compiler_error("lake_scan: interval '" ~ interval ~ "' is not like '5m' or '1h'.") }}
    {%- endif -%}
    {%- set parts = ['raw', market, kind] -%}
    {%- if meta.get('lake_has_interval', false) -%}
        {%- do parts.append('interval=' ~ (interval if interval is not none else '*')) -%}
    {%- elif interval is not none -%}
        {{ exceptions.raise_compiler_error("lake_scan: kind '" ~ kind ~ "' has no interval (got '" ~ interval ~ "').") }}
    {%- endif -%}
    {%- do parts.append('symbol=*') -%}
    {%- do parts.append('*.parquet') -%}
    {%- set pattern = lake_path(parts | join('/')) -%}
    {%- if lake_files_exist(pattern) -%}
        {#- hive_types_autocast = false keeps symbol/interval VARCHAR (a symbol like 1000 stays text). -#}
        read_parquet({{ lake_sql_string(pattern) }}, hive_partitioning = true, hive_types_autocast = false, filename = true, union_by_name = true)
    {%- else -%}
        {{ lake_empty_relation(node) }}
    {%- endif -%}
{%- endmacro %}


{#- binance_lake table name of a (market, kind): ('um', 'markPriceKlines') -> 'um_mark_price_klines'. -#}
{% macro lake_source_table_name(market, kind) -%}
    {{ return(market ~ '_' ~ modules.re.sub('([A-Z])', '_\\1', kind).lower()) }}
{%- endmacro %}


{#- The graph node of a source table (execution time only). -#}
{% macro lake_source_node(source_name, table_name) -%}
    {%- for node in graph.sources.values() -%}
        {%- if node.source_name == source_name and node.name == table_name -%}
            {{ return(node) }}
        {%- endif -%}
    {%- endfor -%}
    {{ exceptions.raise_compiler_error(
        "Source " ~ source_name ~ "." ~ table_name ~ " is not declared in models/staging/__sources.yml.") }}
{%- endmacro %}


{#- `meta` of a node or column, wherever this dbt version keeps it (config.meta or meta). -#}
{% macro lake_node_meta(node) -%}
    {%- set merged = {} -%}
    {%- do merged.update(node.get('meta') or {}) -%}
    {%- do merged.update((node.get('config') or {}).get('meta') or {}) -%}
    {{ return(merged) }}
{%- endmacro %}


{#- A path below the lake root (var lake_root, from $BACKTEST_DATA_ROOT). -#}
{% macro lake_path(relative) -%}
    {{ return((var('lake_root') | string).rstrip('/') ~ '/' ~ relative) }}
{%- endmacro %}


{#- A SQL string literal (single quotes doubled). -#}
{% macro lake_sql_string(value) -%}
    {{ return("'" ~ (value | string | replace("'", "''")) ~ "'") }}
{%- endmacro %}


{#- True when at least one file matches the glob `pattern` (always false outside execution). -#}
{% macro lake_files_exist(pattern) -%}
    {{ return(adapter.dispatch('lake_files_exist', 'binance_warehouse')(pattern)) }}
{%- endmacro %}

{% macro duckdb__lake_files_exist(pattern) -%}
    {%- if not execute -%}
        {{ return(false) }}
    {%- endif -%}
    {%- set result = run_query("select count(*) as n from (select file from glob(" ~ lake_sql_string(pattern) ~ ") limit 1)") -%}
    {{ return(result.columns[0].values()[0] > 0) }}
{%- endmacro %}


{#- `(select cast(null as <type>) as <col>, ... where false)` from a source node's columns. -#}
{% macro lake_empty_relation(node) -%}
    {{ return(adapter.dispatch('lake_empty_relation', 'binance_warehouse')(node)) }}
{%- endmacro %}

{% macro default__lake_empty_relation(node) -%}
    {%- set columns = node.columns.values() | list -%}
    {%- if columns | length == 0 -%}
        {{ exceptions.raise_compiler_error(
            "Source " ~ node.source_name ~ "." ~ node.name ~ " has no columns in models/staging/__sources.yml;"
            ~ " declare them with data_type so an empty lake still builds.") }}
    {%- endif -%}
    (select
    {%- for column in columns %}
        {%- if not column.data_type %}
            {{ exceptions.raise_compiler_error(
                "Column " ~ column.name ~ " of source " ~ node.source_name ~ "." ~ node.name
                ~ " has no data_type in models/staging/__sources.yml.") }}
        {%- endif %}
        cast(null as {{ column.data_type }}) as {{ adapter.quote(column.name) }}{{ "," if not loop.last }}
    {%- endfor %}
    where false)
{%- endmacro %}
