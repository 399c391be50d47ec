{#
    Generic tests written here rather than taken from dbt_utils: the project installs no dbt packages,
    because `dbt deps` needs the package hub, which a locked-down warehouse host often cannot reach, and
    these few tests are short. Each returns the failing rows, as dbt expects.
#}

{# Every row satisfies a boolean SQL expression. Filter rows with dbt's own `where` config. #}
{% test expression_is_true(model, expression, column_name=none) %}
select *
from {{ model }}
where not ({{ expression }})
{% endtest %}

{# No two rows share the same combination of these columns (a composite primary key). #}
{% test unique_combination_of_columns(model, combination_of_columns) %}
select {{ combination_of_columns | join(', ') }}, count(*) as n_rows
from {{ model }}
group by {{ combination_of_columns | join(', ') }}
having count(*) > 1
{% endtest %}

{# Values lie within [min_value, max_value] (either bound optional); nulls pass. #}
{% test accepted_range(model, column_name, min_value=none, max_value=none) %}
select *
from {{ model }}
where {{ column_name }} is not null
  and (
      false
      {%- if min_value is not none %} or {{ column_name }} < {{ min_value }}{% endif %}
      {%- if max_value is not none %} or {{ column_name }} > {{ max_value }}{% endif %}
  )
{% endtest %}

{# The model has exactly as many rows as another relation (optionally filtered; the model side takes dbt's
   own `where` config). #}
{% test equal_row_count(model, compare_model, compare_where=none) %}
with a as (
    select count(*) as n_rows from {{ model }}
),
b as (
    select count(*) as n_rows from {{ compare_model }} {% if compare_where %}where {{ compare_where }}{% endif %}
)
select a.n_rows as model_rows, b.n_rows as compare_rows
from a cross join b
where a.n_rows <> b.n_rows
{% endtest %}
