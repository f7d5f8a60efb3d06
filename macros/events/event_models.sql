{#-
    Event stage macros: spec/events compiled by python_udfs/event_compiler.py and fetched at build
    time through the SQL functions event_plan_json() and event_catalog_json() (registered on every
    connection by python_udfs/duckdb_plugin.py), so `dbt build` alone picks up a new event file or a
    changed threshold. At parse time (execute = false) they render empty stubs that still record
    the lineage.
-#}

{#- The SQL of int_events__detected: every event of spec/events in one pass over fct_features
    (and the fct_bars columns the events read). Incremental (macros/incremental): the inputs are
    read from the cutoff minus the longest own lookback + cooldown of the events, and the rows from
    the cutoff on are written, for every symbol from the earliest cutoff when features are
    cross-sectional. -#}
{% macro event_detected_sql() -%}
    {%- set read = incremental_read() -%}
    {%- set relations = {'fct_features': '(select * from ' ~ ref('fct_features') ~ ' where ' ~ read ~ ')',
                         'fct_bars': '(select * from ' ~ ref('fct_bars') ~ ' where ' ~ read ~ ')'} -%}
    {%- set plan = feature_spec_json("event_plan_json()") -%}
    {%- if plan is none or not plan['sql'] -%}
        {%- set body -%}
        select symbol, ts, available_at, is_gap,
            cast(null as struct(event_type varchar, family varchar, direction varchar, severity varchar,
                severity_score double, attributes varchar)[]) as fired_events
        from {{ ref('fct_features') }}
        where false
        {%- endset -%}
    {%- else -%}
        {%- set body = 'select * from (\n' ~ feature_render_plan(plan, relations) ~ '\n) as detected\nwhere '
            ~ incremental_write() ~ '\norder by symbol, ts' -%}
    {%- endif -%}
    {{ return(incremental_finalize(body, lookback_bars=event_lookback(plan), source=ref('fct_features'))) }}
{%- endmacro %}


{#- The SQL of fct_event_coverage: per event x symbol x month, evaluable bars, events and the inputs
    never known there. -#}
{% macro event_coverage_sql() -%}
    {%- set relations = {'int_events__detected': ref('int_events__detected'), 'fct_features': ref('fct_features'),
                         'fct_bars': ref('fct_bars')} -%}
    {%- set plan = feature_spec_json("event_plan_json()") -%}
    {%- if plan is none or not plan['coverage_sql'] -%}
        select
            cast(null as varchar) as event_type, cast(null as varchar) as family, symbol,
            cast(null as date) as period_month, cast(null as bigint) as n_bars,
            cast(null as bigint) as n_evaluable_bars, cast(null as bigint) as n_events,
            cast(null as double) as prevalence, cast(null as varchar) as coverage_status,
            cast(null as varchar[]) as missing_inputs, cast(null as varchar) as coverage_reason
        from {{ relations['int_events__detected'] }}
        where false
    {%- else -%}
        {{ return(feature_render_plan({'block': 'events', 'sql': plan['coverage_sql'],
                                       'relations': plan['coverage_relations']}, relations)) }}
    {%- endif -%}
{%- endmacro %}


{#- The flag columns of int_events__detected / fct_event_flags (none at parse time). -#}
{% macro event_columns() -%}
    {%- set catalog = feature_spec_json("event_catalog_json()") -%}
    {%- if catalog is none -%}
        {{ return([]) }}
    {%- endif -%}
    {{ return(catalog['events'] | map(attribute='column') | list) }}
{%- endmacro %}


{#- `comment on column` statements documenting every event flag column of `relation`. -#}
{% macro event_flag_comments(relation) -%}
    {%- set catalog = feature_spec_json("event_catalog_json()") -%}
    {%- if catalog is none or not catalog['events'] -%}
        {{ return("select 1") }}
    {%- endif -%}
    {%- set statements = [] -%}
    {%- for event in catalog['events'] -%}
        {%- set text = event['event_type'] ~ ' (' ~ event['family'] ~ '): ' ~ event['rationale']
            ~ ' [true = fired, false = evaluable and did not fire, NULL = not evaluable; detection: '
            ~ event['detection'] ~ '; cooldown: ' ~ event['cooldown_bars'] ~ ' bars]' -%}
        {%- do statements.append("comment on column " ~ relation ~ "." ~ adapter.quote(event['column'])
            ~ " is " ~ lake_sql_string(text)) -%}
    {%- endfor -%}
    {{ return(statements | join(";\n")) }}
{%- endmacro %}
