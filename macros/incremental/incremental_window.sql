{#-
    Incremental builds of the bar -> feature -> event -> label chain (README "Incremental builds").

    A model opts in with materialized='incremental', incremental_strategy='symbol_window' and the
    post-hook incremental_record_state(), and writes its SQL with placeholders:

    * `__incremental_read__`: a predicate on (symbol, ts) (plus market for int_bars__gap_masked) that
      selects the input rows it reads: from its cutoff minus its lookback;
    * `__incremental_write__`: a predicate selecting the rows it writes: from its cutoff on;
    * `__incremental_write_from__`: the cutoff of the row's part (int_bars__gap_masked's grid start).

    incremental_finalize(body, ...) turns them into SQL. On a first build, under --full-refresh, at
    parse time and in unit tests both are `true` (the model is exactly its full-build SQL). On an
    incremental run, per part (symbol, or market + symbol) the cutoff is one bar after the last bar
    the previous build covered (recorded by the post-hook), so a part new to the lake gets its whole
    history; a model whose values depend on other symbols' rows (cross-section features and what
    reads them) rewrites every symbol from the earliest cutoff of the parts that have new bars.

    The lookbacks come from the spec, never a constant: a feature block reads back the longest
    lookback_bars of its features (declared = computed from the formula, stacked windows and the EMA
    kernel included), int_events__detected the longest own_lookback_bars + cooldown_bars of its events,
    and the labels rewrite the events whose forward window (entry_lag_bars + the longest horizon - 1
    bars) was not complete. A window touching the start of the rows read is NULL exactly as one touching
    the start of a symbol's history, and every output row's window lies inside the rows read, so no
    safety margin is needed. The read start is only moved back to a multiple of DuckDB's segment-tree
    block (incremental_alignment_bars) so that window sums add in the same order as in a full build:
    the floats are then bit-identical, not just equal to ~1e-15.

    Rebuilds: the state (schema dbt_incremental) keeps per model a definition digest, the md5 of its
    SQL with the placeholders plus the build ids of the incremental models it reads. A changed spec,
    macro or model (or an upstream model rebuilt from scratch) changes it, and the next `dbt build`
    rebuilds the model from scratch (mode 'rebuild') instead of appending. Data rewritten in the past
    (a day re-ingested before the cutoff, a side series that arrives after its bars were built, a
    changed seed) is not seen: `dbt build --full-refresh` is the answer.
-#}

{#- The placeholders. -#}
{% macro incremental_read() -%}
    {{ return('__incremental_read__') }}
{%- endmacro %}

{% macro incremental_write() -%}
    {{ return('__incremental_write__') }}
{%- endmacro %}

{#- First bar each part writes: a CASE over the parts (NULL for a part new to the lake, which starts
    at its first bar). int_bars__gap_masked starts its grid there, so gap rows between the last built
    bar and the first new one are not lost. -#}
{% macro incremental_write_from() -%}
    {{ return('__incremental_write_from__') }}
{%- endmacro %}


{#- Lookbacks from the spec (see the header). -#}
{% macro feature_block_lookback(plan) -%}
    {%- if plan is none -%}
        {{ return(0) }}
    {%- endif -%}
    {{ return(plan.get('lookback_bars', 0)) }}
{%- endmacro %}

{% macro event_lookback(plan) -%}
    {%- set bars = [0] -%}
    {%- for event in (plan or {}).get('events', []) -%}
        {%- do bars.append(event['own_lookback_bars'] + event['cooldown_bars']) -%}
    {%- endfor -%}
    {{ return(bars | max) }}
{%- endmacro %}

{% macro label_forward_bars() -%}
    {%- set settings = discovery_settings() -%}
    {{ return(settings['entry_lag_bars'] + (settings['horizons_bars'] | max) - 1) }}
{%- endmacro %}


{#- The state tables (outside `main`, so they are not mistaken for warehouse tables). -#}
{% macro incremental_state_relation(name) -%}
    {{ return(api.Relation.create(database=this.database, schema='dbt_incremental', identifier=name)) }}
{%- endmacro %}

{% macro incremental_state_exists() -%}
    {%- set found = run_query("select count(*) from duckdb_tables() where database_name = '" ~ this.database
        ~ "' and schema_name = 'dbt_incremental' and table_name in ('model_state', 'model_coverage')") -%}
    {{ return(found.columns[0].values()[0] == 2) }}
{%- endmacro %}

{#- model -> {definition, build_id, is_sorted, cross_section} for `models` (names). -#}
{% macro incremental_states(models) -%}
    {%- set states = {} -%}
    {%- if not execute or this is none or not models or not incremental_state_exists() -%}
        {{ return(states) }}
    {%- endif -%}
    {%- set quoted = [] -%}
    {%- for name in models -%}
        {%- do quoted.append("'" ~ name ~ "'") -%}
    {%- endfor -%}
    {%- set result = run_query("select model, definition, build_id, is_sorted, cross_section from "
        ~ incremental_state_relation('model_state') ~ " where model in (" ~ (quoted | join(', ')) ~ ")") -%}
    {%- for row in result.rows -%}
        {%- do states.update({row[0]: {'definition': row[1], 'build_id': row[2], 'is_sorted': row[3],
                                       'cross_section': row[4]}}) -%}
    {%- endfor -%}
    {{ return(states) }}
{%- endmacro %}


{#- SQL of one part's key columns equal to `values`. -#}
{% macro incremental_part_match(parts, values) -%}
    {%- set terms = [] -%}
    {%- for column in parts -%}
        {%- do terms.append(column ~ " = '" ~ values[loop.index0] ~ "'") -%}
    {%- endfor -%}
    {{ return(terms | join(' and ')) }}
{%- endmacro %}

{% macro incremental_part_key(parts) -%}
    {{ return(parts | join(" || '|' || ")) }}
{%- endmacro %}

{% macro incremental_ts(text) -%}
    {{ return("timestamptz '" ~ text ~ "+00'") }}
{%- endmacro %}


{#- Bars a read start is aligned to, counted from the part's first bar: the largest power of 16 not
    above the longest window frame (lookback + 1 bars). DuckDB aggregates a sliding window with a
    segment tree of fanout 16 laid from the partition's first row; starting the rows read at such a
    multiple keeps every partial sum in the order a full build adds it, so the floats come out
    bit-identical instead of equal to ~1e-15. It reads at most that many - 1 bars more (< lookback). -#}
{% macro incremental_alignment_bars(lookback_bars) -%}
    {%- set aligned = namespace(bars=1) -%}
    {%- for _ in range(12) if aligned.bars * 16 <= lookback_bars + 1 -%}
        {%- set aligned.bars = aligned.bars * 16 -%}
    {%- endfor -%}
    {{ return(aligned.bars) }}
{%- endmacro %}


{#- The read/write predicates and first written bar of an incremental run (see the header). With a
    `source`, only the parts whose newest bar there is past what the previous build covered (or that
    it did not cover at all) are read and written; nothing at all when there is none. -#}
{% macro incremental_predicates(parts, lookback_bars, rewrite_bars, cross_section, source) -%}
    {%- set step = bar_minutes() -%}
    {%- set block = step * incremental_alignment_bars(lookback_bars) -%}
    {%- set text = "strftime(timezone('UTC', @), '%Y-%m-%d %H:%M:%S')" -%}
    {%- set write_from = "covered_through + to_minutes(" ~ step * (1 - rewrite_bars) ~ ")" -%}
    {%- set read_from = "covered_through + to_minutes(" ~ step * (1 - rewrite_bars - lookback_bars) ~ ")" -%}
    {#- `@` (a time) moved back to a whole number of alignment blocks after the part's first bar. -#}
    {%- set aligned = "greatest(first_ts, first_ts + to_minutes(cast(floor(date_diff('minute', first_ts, @) / "
        ~ block ~ ") * " ~ block ~ " as bigint)))" -%}
    {%- set covered = "select part, first_ts, covered_through from " ~ incremental_state_relation('model_coverage')
        ~ " where model = '" ~ this.identifier ~ "'" -%}
    {%- if cross_section and source is none -%}
        {{ exceptions.raise_compiler_error(this.identifier ~ ": an incremental cross-section model needs a source.") }}
    {%- elif source is none -%}
        {%- set query = "select part, false, " ~ text | replace('@', write_from) ~ ", "
            ~ text | replace('@', aligned | replace('@', read_from)) ~ " from (" ~ covered ~ ") order by part" -%}
    {%- elif not cross_section -%}
        {%- set query = "with source as (select " ~ incremental_part_key(parts) ~ " as part, max(ts) as last_ts from "
            ~ source ~ " group by 1), covered as (" ~ covered ~ ") select source.part, covered.part is null, "
            ~ text | replace('@', write_from) ~ ", " ~ text | replace('@', aligned | replace('@', read_from))
            ~ " from source left join covered on covered.part = source.part "
            ~ "where covered.part is null or source.last_ts > covered.covered_through order by 1" -%}
    {%- else -%}
        {#- Every part from the earliest cutoff of the parts with new bars (read start aligned per part). -#}
        {%- set query = "with source as (select " ~ incremental_part_key(parts) ~ " as part, max(ts) as last_ts from "
            ~ source ~ " group by 1), covered as (" ~ covered ~ "), changed as (select min(" ~ write_from
            ~ ") as write_at, min(" ~ read_from ~ ") as read_at from covered inner join source using (part) "
            ~ "where source.last_ts > covered.covered_through) select covered.part, null, "
            ~ text | replace('@', 'changed.write_at') ~ ", "
            ~ text | replace('@', aligned | replace('@', 'changed.read_at'))
            ~ " from covered, changed where changed.write_at is not null order by 1" -%}
    {%- endif -%}
    {%- set rows = run_query(query).rows -%}
    {%- set nothing = {'read': 'false', 'write': 'false', 'write_from': 'cast(null as timestamptz)'} -%}
    {%- set everything = {'read': 'true', 'write': 'true', 'write_from': 'cast(null as timestamptz)'} -%}
    {%- if cross_section -%}
        {%- set news = run_query("with source as (select distinct " ~ incremental_part_key(parts) ~ " as part from "
            ~ source ~ "), covered as (" ~ covered ~ ") select count(*) from source anti join covered using (part)") -%}
        {%- if news.columns[0].values()[0] > 0 -%}
            {#- A part new to the lake changes the cross-section of its whole history. -#}
            {{ return(everything) }}
        {%- elif not rows -%}
            {{ return(nothing) }}
        {%- endif -%}
        {%- set reads = [] -%}
        {%- for row in rows -%}
            {%- do reads.append('(' ~ incremental_part_match(parts, row[0].split('|')) ~ ' and ts >= '
                ~ incremental_ts(row[3]) ~ ')') -%}
        {%- endfor -%}
        {{ return({'read': '(' ~ (reads | join(' or ')) ~ ')', 'write': 'ts >= ' ~ incremental_ts(rows[0][2]),
                   'write_from': incremental_ts(rows[0][2])}) }}
    {%- endif -%}
    {%- if source is none and not rows -%}
        {{ return(everything) }}
    {%- endif -%}
    {%- set writes, reads, cases, known = [], [], [], [] -%}
    {%- for row in rows -%}
        {%- set match = incremental_part_match(parts, row[0].split('|')) -%}
        {%- if row[1] -%}
            {#- A part the previous build did not cover: its whole history. -#}
            {%- do writes.append('(' ~ match ~ ')') -%}
            {%- do reads.append('(' ~ match ~ ')') -%}
        {%- else -%}
            {%- do writes.append('(' ~ match ~ ' and ts >= ' ~ incremental_ts(row[2]) ~ ')') -%}
            {%- do reads.append('(' ~ match ~ ' and ts >= ' ~ incremental_ts(row[3]) ~ ')') -%}
            {%- do cases.append('when ' ~ match ~ ' then ' ~ incremental_ts(row[2])) -%}
        {%- endif -%}
        {%- do known.append("'" ~ row[0] ~ "'") -%}
    {%- endfor -%}
    {%- if source is none -%}
        {#- Without a source to compare with, any part not covered before is new. -#}
        {%- do writes.append(incremental_part_key(parts) ~ ' not in (' ~ (known | join(', ')) ~ ')') -%}
        {%- do reads.append(incremental_part_key(parts) ~ ' not in (' ~ (known | join(', ')) ~ ')') -%}
    {%- endif -%}
    {%- if not writes -%}
        {{ return(nothing) }}
    {%- endif -%}
    {{ return({'read': '(' ~ (reads | join(' or ')) ~ ')', 'write': '(' ~ (writes | join(' or ')) ~ ')',
               'write_from': ('case ' ~ (cases | join(' ')) ~ ' end') if cases else 'cast(null as timestamptz)'}) }}
{%- endmacro %}


{#- The model's SQL from `body` (with placeholders), led by a comment holding what the strategy and
    the post-hook need (mode, definition, delete predicate). `full_body`, when given, is what a full
    build runs instead of `body` (fct_features lines its blocks up by position there).

    parts: the key columns a cutoff is kept for; lookback_bars: bars read before the cutoff;
    rewrite_bars: bars before the cutoff that are written again (labels); cross_section: rewrite
    every symbol from the earliest cutoff (default: when a model it reads does, as recorded in the
    state, so what reads a cross-section feature block follows it); source: the relation whose
    newest bar per part says which parts have new bars (required with cross_section; without it
    every part covered before is read from its cutoff); coverage: the relation whose first and
    newest bar per part the post-hook records (default: the model itself); reads: the models whose
    build ids enter the definition (default: every model it depends on). -#}
{% macro incremental_finalize(body, parts=['symbol'], lookback_bars=0, rewrite_bars=0, cross_section=none,
                              source=none, coverage=none, full_body=none, reads=none) -%}
    {%- set full = (full_body if full_body is not none else body) -%}
    {%- set everything = {'__incremental_read__': 'true', '__incremental_write__': 'true',
                          '__incremental_write_from__': 'cast(null as timestamptz)'} -%}
    {#- Parse time and unit tests (which have no `this`): the full-build SQL. -#}
    {%- if not execute or this is none -%}
        {{ return(incremental_substitute(full, everything)) }}
    {%- endif -%}
    {%- set upstream = [] -%}
    {%- if reads is not none -%}
        {%- do upstream.extend(reads) -%}
    {%- else -%}
        {%- for node in model.depends_on.nodes if node.startswith('model.') -%}
            {%- do upstream.append(node.split('.')[-1]) -%}
        {%- endfor -%}
    {%- endif -%}
    {%- set states = incremental_states(upstream + [this.identifier]) -%}
    {%- set upstream_ids = [] -%}
    {%- for name in upstream | sort if name in states -%}
        {%- do upstream_ids.append(name ~ '=' ~ states[name]['build_id']) -%}
    {%- endfor -%}
    {%- set definition = local_md5(body ~ '\n' ~ (upstream_ids | join(','))) -%}
    {%- if cross_section is none -%}
        {%- set inherited = [] -%}
        {%- for name in upstream if name in states and states[name]['cross_section'] -%}
            {%- do inherited.append(name) -%}
        {%- endfor -%}
        {%- set cross_section = inherited | length > 0 -%}
    {%- endif -%}
    {%- set previous = states.get(this.identifier) -%}
    {%- set info = {'definition': definition, 'parts': parts,
                    'coverage': (coverage if coverage is not none else this) | string,
                    'lookback_bars': lookback_bars, 'rewrite_bars': rewrite_bars, 'cross_section': cross_section} -%}
    {%- if not is_incremental() -%}
        {%- do info.update({'mode': 'full', 'build_id': local_md5(definition ~ invocation_id), 'is_sorted': true,
                            'delete': 'true'}) -%}
        {%- set sql = incremental_substitute(full, everything) -%}
    {%- elif previous is none or previous['definition'] != definition -%}
        {%- do info.update({'mode': 'rebuild', 'build_id': local_md5(definition ~ invocation_id), 'is_sorted': true,
                            'delete': 'true'}) -%}
        {%- set sql = incremental_substitute(full, everything) -%}
    {%- else -%}
        {%- set window = incremental_predicates(parts, lookback_bars, rewrite_bars, cross_section, source) -%}
        {#- Rows appended after the kept ones leave the table out of (symbol, ts) order, unless none
            were written or all were (fct_features then sorts before lining tables up by position). -#}
        {%- set is_sorted = window['write'] == 'true' or (previous['is_sorted'] and window['write'] == 'false') -%}
        {%- do info.update({'mode': 'incremental', 'build_id': previous['build_id'], 'delete': window['write'],
                            'is_sorted': is_sorted}) -%}
        {%- set sql = incremental_substitute(body, {'__incremental_read__': window['read'],
                                                    '__incremental_write__': window['write'],
                                                    '__incremental_write_from__': window['write_from']}) -%}
    {%- endif -%}
    {{ return('/* incremental_state: ' ~ tojson(info) ~ ' */\n' ~ sql) }}
{%- endmacro %}

{% macro incremental_substitute(sql, replacements) -%}
    {%- set rendered = {'sql': sql} -%}
    {%- for token, value in replacements.items() -%}
        {%- do rendered.update({'sql': rendered['sql'] | replace(token, value)}) -%}
    {%- endfor -%}
    {{ return(rendered['sql']) }}
{%- endmacro %}


{#- The comment incremental_finalize put at the top of the compiled model (none without one). -#}
{% macro incremental_info() -%}
    {%- set code = model.get('compiled_code') or '' -%}
    {%- set marker = '/* incremental_state: ' -%}
    {%- if marker not in code -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(fromjson(code.split(marker)[1].split(' */')[0])) }}
{%- endmacro %}


{#- incremental_strategy='symbol_window': delete the rows of the write window, insert the new ones;
    or replace the table when the model's definition changed (mode 'rebuild'). -#}
{% macro get_incremental_symbol_window_sql(arg_dict) -%}
    {%- set info = incremental_info() -%}
    {%- set target = arg_dict['target_relation'] -%}
    {%- set temp = arg_dict['temp_relation'] -%}
    {%- if info is none -%}
        {{ exceptions.raise_compiler_error(
            "incremental_strategy 'symbol_window' needs a model built by incremental_finalize() "
            ~ "(macros/incremental).") }}
    {%- endif -%}
    {%- if info['mode'] == 'rebuild' -%}
        create or replace table {{ target }} as select * from {{ temp }}
    {%- else -%}
        {%- set columns = get_quoted_csv(arg_dict['dest_columns'] | map(attribute='name')) -%}
        delete from {{ target }} where {{ info['delete'] }};
        insert into {{ target }} ({{ columns }}) select {{ columns }} from {{ temp }}
    {%- endif -%}
{%- endmacro %}


{#- Post-hook: what this build covered, for the next incremental run. -#}
{% macro incremental_record_state() -%}
    {%- set info = incremental_info() -%}
    {%- if info is none -%}
        {{ return('select 1') }}
    {%- endif -%}
    {%- set state = incremental_state_relation('model_state') -%}
    {%- set coverage = incremental_state_relation('model_coverage') -%}
    {%- set name = "'" ~ this.identifier ~ "'" -%}
    create schema if not exists {{ this.database }}.dbt_incremental;
    create table if not exists {{ state }} (
        model varchar, definition varchar, build_id varchar, build_kind varchar, is_sorted boolean,
        built_at timestamptz, invocation_id varchar, lookback_bars integer, rewrite_bars integer,
        cross_section boolean);
    create table if not exists {{ coverage }} (
        model varchar, part varchar, first_ts timestamptz, covered_through timestamptz);
    delete from {{ state }} where model = {{ name }};
    insert into {{ state }} values ({{ name }}, '{{ info["definition"] }}', '{{ info["build_id"] }}',
        '{{ info["mode"] }}', {{ 'true' if info['is_sorted'] else 'false' }}, now(), '{{ invocation_id }}',
        {{ info['lookback_bars'] }}, {{ info['rewrite_bars'] }}, {{ 'true' if info['cross_section'] else 'false' }});
    delete from {{ coverage }} where model = {{ name }};
    insert into {{ coverage }}
        select {{ name }}, {{ incremental_part_key(info['parts']) }}, min(ts), max(ts)
        from {{ info['coverage'] }}
        group by all
{%- endmacro %}
