{#- One row per `backtest run` whose manifest is under reports/: what it was asked, how it went,
    on which data and with which code and spec, how many tests passed and how big the main tables
    were. The manifest JSON (reports/<run_id>/run_manifest.json) holds the full detail. -#}
{{ config(materialized='table', tags=['run_manifest']) }}

with

manifests as (

    select * from {{ ref('stg_runs__manifests') }}

),

final as (

    select
        run_id,
        status,
        error,
        started_at,
        finished_at,
        seconds,
        request ->> 'scope' as scope,
        coalesce(request ->> 'source', 'demo market') as source,
        -- asked for (--full-refresh), or forced because the ingest rewrote days already built
        coalesce(list_contains(cast(json_extract(stages, '$[*].detail.full_refresh') as boolean[]), true), false)
            as is_full_refresh,
        symbols,
        data_window_start,
        data_window_end,
        ontology_spec_hash,
        cost_config_digest,
        phase2_run_id,
        code_version,
        dbt_invocation_id,
        dbt_version,
        tests.pass as tests_passed,
        tests.fail as tests_failed,
        tests.warn as tests_warned,
        tests.error as tests_errored,
        tests.skipped as tests_skipped,
        json_array_length(stages) as stages,
        cast(row_counts ->> 'fct_bars' as bigint) as fct_bars_rows,
        cast(row_counts ->> 'fct_events' as bigint) as fct_events_rows,
        cast(row_counts ->> 'dim_blueprints' as bigint) as blueprints,
        row_counts,
        manifest_file

    from manifests

)

select * from final
