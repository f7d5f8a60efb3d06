{#- One row per run and stage (ingest, dbt build, export, report): when it started, how long it
    took and whether it succeeded, so stage timings can be compared across runs. -#}
{{ config(materialized='table', tags=['run_manifest']) }}

with

manifests as (

    select run_id, stages from {{ ref('stg_runs__manifests') }}

),

stages as (

    select
        run_id,
        stage_index,
        stages -> cast(stage_index as integer) as stage
    from (
        select run_id, stages, unnest(range(cast(json_array_length(stages) as bigint))) as stage_index
        from manifests
    )

),

final as (

    select
        run_id,
        cast(stage_index + 1 as integer) as stage_order,
        stage ->> 'name' as stage_name,
        cast(stage ->> 'started_at' as timestamptz) as started_at,
        cast(stage ->> 'seconds' as double) as seconds,
        stage ->> 'status' as status,
        stage -> 'detail' as detail

    from stages

)

select * from final
