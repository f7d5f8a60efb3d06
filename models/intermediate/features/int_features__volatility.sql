{#- Feature block 'volatility': one column per feature of spec/features/volatility.yaml, keyed (symbol, ts),
    compiled at build time by macros/features/feature_blocks.sql (python_udfs/feature_compiler.py). -#}

{{ feature_block('volatility') }}
