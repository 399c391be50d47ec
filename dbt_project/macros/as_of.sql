{#
    The reference moment for recency, RFM and cohort ages: the `as_of` var (an ISO date, taken as the end
    of that day) when set, else the last order in the data. Never the wall clock, so a rebuild on the same
    data gives the same figures.
#}
{% macro as_of_timestamp(orders_relation) -%}
    {%- if var('as_of', '') | string | trim -%}
        {{ dbt.dateadd('second', 86399, "cast('" ~ (var('as_of') | string | trim) ~ "' as timestamp)") }}
    {%- else -%}
        (select max(ordered_at) from {{ orders_relation }})
    {%- endif -%}
{%- endmacro %}
