{#
    The most frequent value of `value` per customer in `relation`: one row per customer and value with its
    rank `n` (1 = most frequent; ties go to the smaller value, so the choice never depends on row order).
    Join on `n = 1`. Used for a customer's preferred channel, device, weekday and hour.
#}
{% macro most_frequent(relation, value, alias, where=none) -%}
    select
        customer_id,
        {{ value }} as {{ alias }},
        row_number() over (partition by customer_id order by count(*) desc, {{ value }} asc) as n
    from {{ relation }}
    {%- if where %}
    where {{ where }}
    {%- endif %}
    group by customer_id, {{ value }}
{%- endmacro %}
