{#- Candidate templates, planned once from the spec: every event x rule template x horizon x state
    condition that spec/multiplicity/families.yaml (templates, horizons per event) and
    spec/global_defaults.yaml discovery (conditioning states; the labels come from spec/states)
    allow, plus the unconditioned 'all'. Expanded per run over symbols by fct_phase2_candidates. -#}
{{ config(materialized='table', tags=['discovery']) }}
{%- set catalog = feature_spec_json("event_catalog_json()") %}
{%- set state_plan = feature_spec_json("state_plan_json()") %}
{%- set settings = discovery_settings() %}
{%- set rows = [] %}
{%- if catalog is not none %}
    {%- for event in catalog['events'] %}
        {%- for template in event['rule_templates'] %}
            {%- for horizon in event['horizons_bars'] %}
                {%- do rows.append([event['event_type'], event['family'], template, catalog['rule_templates'][template]['verb'],
                                    catalog['rule_templates'][template]['side'], horizon]) %}
            {%- endfor %}
        {%- endfor %}
    {%- endfor %}
{%- endif %}
{%- set conditions = [['all', 'all']] %}
{%- if state_plan is not none %}
    {%- for state in state_plan['states'] if state['name'] in settings['conditioning_states'] %}
        {%- for label in state['labels'] %}
            {%- do conditions.append([state['name'], label]) %}
        {%- endfor %}
    {%- endfor %}
{%- endif %}

with

templates as (

    {%- if rows %}
    select * from (values
        {%- for row in rows %}
        ({{ lake_sql_string(row[0]) }}, {{ lake_sql_string(row[1]) }}, {{ lake_sql_string(row[2]) }},
         {{ lake_sql_string(row[3]) }}, {{ lake_sql_string(row[4]) }}, {{ row[5] }}){{ ',' if not loop.last }}
        {%- endfor %}
    ) as t(event_type, family, rule_template, template_verb, side, horizon_bars)
    {%- else %}
    select cast(null as varchar) as event_type, cast(null as varchar) as family, cast(null as varchar) as rule_template,
        cast(null as varchar) as template_verb, cast(null as varchar) as side, cast(null as integer) as horizon_bars
    where false
    {%- endif %}

),

conditions as (

    select * from (values
        {%- for condition in conditions %}
        ({{ lake_sql_string(condition[0]) }}, {{ lake_sql_string(condition[1]) }}){{ ',' if not loop.last }}
        {%- endfor %}
    ) as c(state_name, state_value)

),

final as (

    select
        md5(concat_ws('|', templates.event_type, templates.rule_template, templates.horizon_bars,
                      conditions.state_name, conditions.state_value)) as template_id,
        templates.*,
        conditions.state_name,
        conditions.state_value
    from templates
    cross join conditions

)

select * from final
order by event_type, rule_template, horizon_bars, state_name, state_value
