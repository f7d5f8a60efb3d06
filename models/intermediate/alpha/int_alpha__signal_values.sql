{#- The alpha bundle's signals (spec/alpha/signals.yaml), one row per signal, symbol and bar of
    fct_features: the formula's value (raw_value, known at the bar's close; NULL at a gap, with an
    input unknown or a window touching a gap) and whether the signal's regime filters
    (spec/alpha/bundle.yaml, over dim_states at the bar) leave it on. Compiled by
    python_udfs/alpha_compiler.py; the scores per bar are taken in int_alpha__signals. -#}
{{ config(materialized='table', tags=['alpha']) }}

{{ alpha_signal_values_sql() }}
