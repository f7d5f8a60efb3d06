{#-
    Alpha bundle macros: spec/alpha compiled by python_udfs/alpha_compiler.py and fetched at build
    time through the SQL functions alpha_plan_json() and alpha_config_json() (registered on every
    connection by python_udfs/duckdb_plugin.py), so `dbt build` alone picks up a new signal, a changed
    lookback or a changed regime filter. At parse time (execute = false) they render typed stubs
    that still record the lineage.
-#}

{#- The SQL of int_alpha__signal_values: every signal of spec/alpha/signals.yaml in one pass over
    fct_features (the fct_bars columns a signal reads, and the dim_states columns of the regime
    filters). -#}
{% macro alpha_signal_values_sql() -%}
    {%- set relations = {'fct_features': ref('fct_features'), 'fct_bars': ref('fct_bars'),
                         'dim_states': ref('dim_states')} -%}
    {%- set plan = feature_spec_json("alpha_plan_json()") -%}
    {%- if plan is none -%}
        select
            cast(null as varchar) as signal_name, cast(null as varchar) as signal_family,
            cast(null as varchar) as transform, symbol, ts, is_gap, cast(null as double) as raw_value,
            cast(null as boolean) as regime_on
        from {{ relations['fct_features'] }}
        where false
    {%- else -%}
        {{ return(feature_render_plan({'block': 'alpha', 'sql': plan['sql'], 'relations': plan['relations']},
                                      relations)) }}
    {%- endif -%}
{%- endmacro %}


{#- The validated spec/alpha (alpha_config_json()), decoded; none at parse time. -#}
{% macro alpha_config() -%}
    {{ return(feature_spec_json("alpha_config_json()")) }}
{%- endmacro %}
