{#- One row per run manifest under reports/ (source runs.manifests), typed; the nested parts stay
    JSON for the marts to unpack. Rebuilt at the end of every `backtest run` (tag run_manifest). -#}
{{ config(materialized='view', tags=['run_manifest']) }}

with

source as (

    select * from {{ run_manifest_scan() }}

),

final as (

    select
        run_id,
        status,
        error,
        started_at,
        finished_at,
        seconds,
        request,
        stages,
        symbols,
        cast(data_window."start" as timestamptz) as data_window_start,
        cast(data_window."end" as timestamptz) as data_window_end,
        ontology_spec_hash,
        cost_config_digest,
        phase2_run_id,
        code_version,
        dbt_invocation_id,
        dbt_version,
        tests,
        row_counts,
        filename as manifest_file

    from source

)

select * from final
