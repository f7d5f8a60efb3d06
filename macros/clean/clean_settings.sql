{#-
    `clean_settings()`: the `clean:` section of spec/global_defaults.yaml (thresholds of the CLEAN
    stage), read at build time through spec('global_defaults'), so a changed threshold changes the
    next `dbt build`. It also checks that the file's bar_interval_minutes is the 5 minutes the CLEAN
    stage is built for (bar_minutes()).

    At execution every key below must be present with a number >= 0 (an error names the file and
    the key otherwise; unknown keys are refused too, so a typo cannot silently fall back). At parse
    time spec() returns {} and the placeholders keep the SQL renderable; they are never executed.
-#}

{% macro clean_settings() -%}
    {%- set placeholders = {
        'range_outlier_max_log_range': 0.15,
        'basis_flat_band_bps': 5.0,
        'metrics_max_age_minutes': 15,
        'funding_max_delay_minutes': 60,
    } -%}
    {%- if not execute -%}
        {{ return(placeholders) }}
    {%- endif -%}
    {%- set defaults = spec('global_defaults') -%}
    {%- if defaults.get('bar_interval_minutes') != bar_minutes() -%}
        {{ exceptions.raise_compiler_error(
            "spec/global_defaults.yaml: bar_interval_minutes is '" ~ defaults.get('bar_interval_minutes')
            ~ "' but the CLEAN stage (int_bars__*, fct_bars) builds " ~ bar_minutes() ~ "-minute bars; set it back to "
            ~ bar_minutes() ~ ".") }}
    {%- endif -%}
    {%- set section = defaults.get('clean') -%}
    {%- set where = "spec/global_defaults.yaml, section clean" -%}
    {%- if section is not mapping -%}
        {{ exceptions.raise_compiler_error(where ~ ": expected a mapping of settings, got '" ~ section ~ "'.") }}
    {%- endif -%}
    {%- for key in section if key not in placeholders -%}
        {{ exceptions.raise_compiler_error(
            where ~ ": unknown key '" ~ key ~ "' (known: " ~ (placeholders.keys() | sort | join(', ')) ~ ").") }}
    {%- endfor -%}
    {%- for key in placeholders -%}
        {%- set value = section.get(key) -%}
        {%- if value is none -%}
            {{ exceptions.raise_compiler_error(where ~ ": key '" ~ key ~ "' is missing.") }}
        {%- endif -%}
        {%- if value is boolean or value is not number or value < 0 -%}
            {{ exceptions.raise_compiler_error(
                where ~ ": key '" ~ key ~ "' must be a number >= 0, got '" ~ value ~ "'.") }}
        {%- endif -%}
    {%- endfor -%}
    {{ return(section) }}
{%- endmacro %}


{#- The bar width of the CLEAN stage. Models named *_5m and the 5-minute grid assume it; it must
    agree with spec/global_defaults.yaml bar_interval_minutes (clean_settings() checks it). -#}
{% macro bar_minutes() -%}
    {{ return(5) }}
{%- endmacro %}
