{#- Fails with every row whose source time (`column_name`, e.g. the availability time of an
    ASOF-joined funding or metrics row) is later than the row's own availability time
    (`reference_column`): the value was not known yet, a look-ahead. NULL source times pass. -#}

{% test source_time_not_after(model, column_name, reference_column='available_at') %}
    {{ return(adapter.dispatch('test_source_time_not_after', 'binance_warehouse')(model, column_name, reference_column)) }}
{% endtest %}

{% macro default__test_source_time_not_after(model, column_name, reference_column='available_at') %}

with validation_errors as (

    select *
    from {{ model }}
    where {{ column_name }} > {{ reference_column }}

)

select * from validation_errors
{% endmacro %}
