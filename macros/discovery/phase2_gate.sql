{#- `phase2_gate(key, default)`: the SQL value of one gate of spec/gates.yaml gate_v1_phase2 for the
    current row, honouring per-event `overrides` (a CASE on event_type when any event overrides it).
    Validated by python_udfs/gate_spec.py; read at build time. -#}
{% macro phase2_gate(key, default) -%}
    {%- set gates_spec = spec('gates') if execute else {} -%}
    {%- set gates = gates_spec.get('gate_v1_phase2', {}) -%}
    {%- set overrides = gates_spec.get('overrides', {}) or {} -%}
    {%- set events_with = [] -%}
    {%- for event, values in overrides.items() if key in values -%}
        {%- do events_with.append((event, values[key])) -%}
    {%- endfor -%}
    {%- if events_with -%}
        (case event_type {% for event, value in events_with %}when {{ lake_sql_string(event) }} then {{ value }} {% endfor %}else {{ gates.get(key, default) }} end)
    {%- else -%}
        {{ gates.get(key, default) }}
    {%- endif -%}
{%- endmacro %}
