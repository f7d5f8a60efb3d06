{#- Feature block 'cross_section': one column per feature of spec/features/cross_section.yaml, keyed (symbol, ts),
    compiled at build time by macros/features/feature_blocks.sql (python_udfs/feature_compiler.py). -#}

{{ feature_block('cross_section') }}
