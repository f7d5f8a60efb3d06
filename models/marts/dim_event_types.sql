{#- The event registry as a table: one row per event of spec/events with its family, rationale,
    detection, parameters, direction, severity buckets, cooldown, expected prevalence, lookback,
    rule templates and horizons (spec/multiplicity), and the spec hash it was built from. -#}
{{ config(materialized='table', tags=['events']) }}
{%- set catalog = feature_spec_json("event_catalog_json()") %}
{%- set spec_hash = spec_digest('ontology_spec_hash') %}

with

events as (

    {%- if catalog is none or not catalog['events'] %}

    select
        cast(null as varchar) as event_type, cast(null as varchar) as family, cast(null as boolean) as is_canonical,
        cast(null as varchar) as rationale, cast(null as varchar[]) as inputs, cast(null as json) as parameters,
        cast(null as varchar) as detection, cast(null as varchar) as direction, cast(null as varchar) as severity_score,
        cast(null as json) as severity_buckets, cast(null as integer) as cooldown_bars,
        cast(null as double) as prevalence_min, cast(null as double) as prevalence_max,
        cast(null as varchar[]) as attributes, cast(null as integer) as lookback_bars,
        cast(null as integer) as own_lookback_bars,
        cast(null as varchar) as spec_file, cast(null as varchar[]) as rule_templates,
        cast(null as varchar[]) as template_verbs, cast(null as integer[]) as horizons_bars
    where false

    {%- else %}

    select * from (values
        {%- for event in catalog['events'] %}
        (
            {{ lake_sql_string(event['event_type']) }},
            {{ lake_sql_string(event['family']) }},
            {{ 'true' if event['canonical'] else 'false' }},
            {{ lake_sql_string(event['rationale']) }},
            cast({{ lake_sql_string(tojson(event['inputs'])) }} as json)::varchar[],
            cast({{ lake_sql_string(tojson(event['parameters'])) }} as json),
            {{ lake_sql_string(event['detection']) }},
            {{ lake_sql_string(event['direction']) }},
            {{ lake_sql_string(event['severity_score']) }},
            cast({{ lake_sql_string(tojson(event['severity_buckets'])) }} as json),
            {{ event['cooldown_bars'] }},
            cast({{ event['prevalence_min'] }} as double),
            cast({{ event['prevalence_max'] }} as double),
            cast({{ lake_sql_string(tojson(event['attributes'])) }} as json)::varchar[],
            {{ event['lookback_bars'] }},
            {{ event['own_lookback_bars'] }},
            {{ lake_sql_string(event['file']) }},
            cast({{ lake_sql_string(tojson(event['rule_templates'])) }} as json)::varchar[],
            cast({{ lake_sql_string(tojson(event['template_verbs'])) }} as json)::varchar[],
            cast({{ lake_sql_string(tojson(event['horizons_bars'])) }} as json)::integer[]
        ){{ ',' if not loop.last }}
        {%- endfor %}
    ) as t(event_type, family, is_canonical, rationale, inputs, parameters, detection, direction, severity_score,
           severity_buckets, cooldown_bars, prevalence_min, prevalence_max, attributes, lookback_bars, own_lookback_bars, spec_file,
           rule_templates, template_verbs, horizons_bars)

    {%- endif %}

),

final as (

    select
        *,
        '{{ spec_hash }}' as ontology_spec_hash
    from events

)

select * from final
order by family, event_type
