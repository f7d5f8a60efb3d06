{#- Calendar context of every bar time of fct_bars, from seeds/: trading sessions (local hours in the
    exchange's time zone, so UTC hours follow daylight saving time) and the distance to scheduled
    macro releases (FOMC statements, US CPI). Keyed by ts; read by the `context` feature block
    (columns cal_*, declared in python_udfs/feature_inputs.py CALENDAR_COLUMNS).

    Release times are scheduled and published in advance (seeds/macro_releases.yml), so a bar may
    know the next one. Each release is expanded to the 5-minute grid within 7 days on either side
    and joined to the bars on equality: no join looks past what the schedule says. -#}
{{ config(materialized='table', tags=['features']) }}

with

bar_times as (

    select distinct ts from {{ ref('fct_bars') }}

),

sessions as (

    select * from {{ ref('market_sessions') }}

),

releases as (

    select * from {{ ref('macro_releases') }}

),

local_times as (

    select
        bar_times.ts,
        sessions.session,
        -- wall-clock time of the bar's open in the exchange's time zone (DST-aware)
        timezone(sessions.timezone, bar_times.ts) as local_ts,
        cast(split_part(sessions.open_local, ':', 1) as integer) * 60
            + cast(split_part(sessions.open_local, ':', 2) as integer) as open_minute,
        cast(split_part(sessions.close_local, ':', 1) as integer) * 60
            + cast(split_part(sessions.close_local, ':', 2) as integer) as close_minute,
        sessions.valid_from,
        sessions.valid_to

    from bar_times
    cross join sessions

),

session_minutes as (

    select
        ts,
        session,
        hour(local_ts) * 60 + minute(local_ts) as local_minute,
        isodow(local_ts) <= 5 as is_local_weekday,
        open_minute,
        close_minute

    from local_times
    where cast(local_ts as date) >= valid_from
        and cast(local_ts as date) < valid_to

),

session_flags as (

    select
        ts,
        session,
        is_local_weekday and local_minute >= open_minute and local_minute < close_minute as is_active,
        is_local_weekday and local_minute = open_minute as is_open_bar,
        is_local_weekday and local_minute + {{ bar_minutes() }} = close_minute as is_close_bar,
        case
            when is_local_weekday and local_minute >= open_minute and local_minute < close_minute
                then local_minute - open_minute
        end as minutes_since_open

    from session_minutes

),

sessions_by_ts as (

    select
        ts,
        {%- for session in ['asia', 'europe', 'us'] %}
        coalesce(bool_or(is_active) filter (where session = '{{ session }}'), false) as cal_{{ session }}_active,
        coalesce(bool_or(is_open_bar) filter (where session = '{{ session }}'), false) as cal_{{ session }}_open_bar,
        coalesce(bool_or(is_close_bar) filter (where session = '{{ session }}'), false) as cal_{{ session }}_close_bar,
        max(minutes_since_open) filter (where session = '{{ session }}') as cal_{{ session }}_minutes_since_open{{ "," if not loop.last }}
        {%- endfor %}

    from session_flags
    group by ts

),

release_grid as (

    select
        release_type,
        release_time_utc,
        unnest(generate_series(
            release_time_utc - interval 7 day,
            release_time_utc + interval 7 day,
            interval {{ bar_minutes() }} minute
        )) as ts

    from releases

),

release_distances as (

    select
        ts,
        release_type,
        date_diff('minute', ts, release_time_utc) as minutes_to_release

    from release_grid

),

releases_by_ts as (

    select
        ts,
        {%- for release in ['fomc', 'cpi'] %}
        min(minutes_to_release) filter (where release_type = '{{ release }}' and minutes_to_release >= 0)
            as cal_minutes_to_next_{{ release }},
        min(-minutes_to_release) filter (where release_type = '{{ release }}' and minutes_to_release <= 0)
            as cal_minutes_since_last_{{ release }},
        {%- endfor %}
        min(minutes_to_release) filter (where minutes_to_release >= 0) as cal_minutes_to_next_macro,
        min(-minutes_to_release) filter (where minutes_to_release <= 0) as cal_minutes_since_last_macro

    from release_distances
    group by ts

),

final as (

    select
        bar_times.ts,
        hour(timezone('UTC', bar_times.ts)) as cal_hour_utc,
        hour(timezone('UTC', bar_times.ts)) * 60 + minute(timezone('UTC', bar_times.ts)) as cal_minute_of_day_utc,
        isodow(timezone('UTC', bar_times.ts)) as cal_isodow_utc,
        isodow(timezone('UTC', bar_times.ts)) >= 6 as cal_is_weekend_utc,
        {%- for session in ['asia', 'europe', 'us'] %}
        coalesce(sessions_by_ts.cal_{{ session }}_active, false) as cal_{{ session }}_active,
        coalesce(sessions_by_ts.cal_{{ session }}_open_bar, false) as cal_{{ session }}_open_bar,
        coalesce(sessions_by_ts.cal_{{ session }}_close_bar, false) as cal_{{ session }}_close_bar,
        sessions_by_ts.cal_{{ session }}_minutes_since_open,
        {%- endfor %}
        {%- for release in ['fomc', 'cpi', 'macro'] %}
        releases_by_ts.cal_minutes_to_next_{{ release }},
        releases_by_ts.cal_minutes_since_last_{{ release }}{{ "," if not loop.last }}
        {%- endfor %}

    from bar_times
    left join sessions_by_ts
        on sessions_by_ts.ts = bar_times.ts
    left join releases_by_ts
        on releases_by_ts.ts = bar_times.ts

)

select * from final
