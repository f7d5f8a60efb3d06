{#- Feature block 'volatility': one column per feature of spec/features/volatility.yaml, keyed (symbol, ts),
    compiled at build time by macros/features/feature_blocks.sql (python_udfs/feature_compiler.py). -#}
{#- Incremental (macros/incremental): new bars are appended, reading back the block's longest lookback. -#}
{{ config(
    materialized='incremental',
    incremental_strategy='symbol_window',
    tags=['features'],
    post_hook="{{ incremental_record_state() }}",
) }}

{{ feature_block('volatility') }}
