{#
    Use the folder's custom schema verbatim (staging, intermediate, marts) instead of dbt's default
    <target_schema>_<custom_schema>: the Python assets, dashboards and notebooks read `marts.fct_orders`
    by that exact name, whatever the profile's target schema is.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
