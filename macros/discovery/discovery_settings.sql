{#-
    `discovery_settings()`: the `discovery:` section of spec/global_defaults.yaml (entry lag,
    horizons, rule templates, conditioning states), validated by python_udfs/event_spec.py and read
    at build time, so a changed horizon or lag changes the labels on the next `dbt build`. At parse
    time it returns placeholders that still render valid SQL.
-#}
{% macro discovery_settings() -%}
    {%- set defaults = spec('global_defaults') -%}
    {%- set discovery = defaults.get('discovery') if defaults else none -%}
    {%- if not execute or discovery is none -%}
        {{ return({'entry_lag_bars': 1, 'horizons_bars': [12], 'rule_templates': {}, 'conditioning_states': [],
                   'bar_seconds': 300, 'funding_max_delay_minutes': 60}) }}
    {%- endif -%}
    {%- set settings = discovery.copy() -%}
    {%- if settings['entry_lag_bars'] < 1 -%}
        {{ exceptions.raise_compiler_error("spec/global_defaults.yaml: discovery.entry_lag_bars must be >= 1") }}
    {%- endif -%}
    {%- do settings.update({'bar_seconds': defaults['bar_interval_minutes'] * 60,
                            'funding_max_delay_minutes': defaults['clean']['funding_max_delay_minutes']}) -%}
    {{ return(settings) }}
{%- endmacro %}
