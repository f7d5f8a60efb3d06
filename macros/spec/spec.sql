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


{#-
    `spec_digest(name)`: the current value of a spec digest SQL function ('ontology_spec_hash' or
    'cost_config_digest'), read at execution time so a row can be compared with the spec as it
    is now; '' at parse time.
-#}
{% macro spec_digest(name) -%}
    {%- if not execute or name not in ('ontology_spec_hash', 'cost_config_digest') -%}
        {{ return('') }}
    {%- endif -%}
    {{ return(run_query("select " ~ name ~ "()").columns[0].values()[0]) }}
{%- endmacro %}
