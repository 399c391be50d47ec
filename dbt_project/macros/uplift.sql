{#
    The uplift of a treated group over its random control group, with its 95 % confidence interval, defined
    once for promotion__campaign_effectiveness and promotion__uplift_by_segment.
      uplift = p_treated - p_control (observed conversion rates)
      95 % interval: normal approximation for a difference of two independent proportions, with the
      Agresti-Caffo adjustment (one extra conversion and one extra non-conversion in each arm before the
      Wald formula; Agresti & Caffo 2000, The American Statistician 54(4)), because control groups are
      small and often have zero conversions, where the plain Wald interval collapses to a point:
      p~ = (x + 1) / (n + 2), SE = sqrt(p~_t (1 - p~_t) / (n_t + 2) + p~_c (1 - p~_c) / (n_c + 2)),
      interval = (p~_t - p~_c) +- 1.96 SE
    Emits the columns uplift, uplift_std_error, uplift_ci_low, uplift_ci_high, is_significant from four
    column expressions (conversions and sends of each arm).
#}
{% macro uplift_columns(treated_conversions, treated_sends, control_conversions, control_sends) -%}
    {%- set pt = '((cast(' ~ treated_conversions ~ ' as double) + 1) / (' ~ treated_sends ~ ' + 2))' -%}
    {%- set pc = '((cast(' ~ control_conversions ~ ' as double) + 1) / (' ~ control_sends ~ ' + 2))' -%}
    {%- set se = 'case when ' ~ treated_sends ~ ' > 0 and ' ~ control_sends ~ ' > 0 then sqrt('
        ~ pt ~ ' * (1 - ' ~ pt ~ ') / (' ~ treated_sends ~ ' + 2) + '
        ~ pc ~ ' * (1 - ' ~ pc ~ ') / (' ~ control_sends ~ ' + 2)) end' -%}
    cast(
        cast({{ treated_conversions }} as double) / nullif({{ treated_sends }}, 0)
        - cast({{ control_conversions }} as double) / nullif({{ control_sends }}, 0) as double
    ) as uplift,
    cast({{ se }} as double) as uplift_std_error,
    cast({{ pt }} - {{ pc }} - 1.96 * {{ se }} as double) as uplift_ci_low,
    cast({{ pt }} - {{ pc }} + 1.96 * {{ se }} as double) as uplift_ci_high,
    coalesce(
        {{ pt }} - {{ pc }} - 1.96 * {{ se }} > 0 or {{ pt }} - {{ pc }} + 1.96 * {{ se }} < 0, false
    ) as is_significant
{%- endmacro %}
