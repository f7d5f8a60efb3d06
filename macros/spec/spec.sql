{#-
    `spec(section)`: one section of the validated spec/ tree (e.g. 'global_defaults.clean'),
    read through the SQL function spec_json() that python_udfs registers on every connection.
    Runs at execution time, so `dbt build` alone picks up a spec change. At parse time it returns
    an empty dict: callers must render valid SQL from {} too.
-#}
{% macro spec(section) -%}
    {%- if not execute -%}
        {{ return({}) }}
    {%- endif -%}
    {%- set result = run_query("select spec_json('" ~ section ~ "')") -%}
    {{ return(fromjson(result.columns[0].values()[0])) }}
{%- endmacro %}
