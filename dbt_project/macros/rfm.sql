{#
    RFM scoring, defined once for customer_360 (as of the data's end) and profiling__segment_movement (as of
    every month end).

    rfm_scores: quintile scores 1-5 among the buyers of one partition (all buyers, or one snapshot month).
    percent_rank gives tied customers the same score (a ntile would split identical values arbitrarily):
    score = 1 + floor(5 * percent rank), capped at 5. Recent buyers (few recency days) score high. Revenue
    is ranked to the cent: a sum of floating-point amounts depends on the order it is added in (it differs
    in the last bits between DuckDB and Spark), and two customers who spent the same must tie.

    rfm_segment: the segment name from the scores and the number of orders (the rules of DECISIONLOG.md,
    "RFM and the reference date"); fm_score is the rounded-up mean of the frequency and monetary scores.
#}
{% macro rfm_scores(recency_days, orders, revenue, partition_by=none) -%}
    {%- set over = ('partition by ' ~ partition_by ~ ' ') if partition_by else '' -%}
    least(5, 1 + floor(5 * percent_rank() over ({{ over }}order by {{ recency_days }} desc))) as recency_score,
    least(5, 1 + floor(5 * percent_rank() over ({{ over }}order by {{ orders }}))) as frequency_score,
    least(5, 1 + floor(5 * percent_rank() over ({{ over }}order by round({{ revenue }}, 2)))) as monetary_score
{%- endmacro %}

{% macro rfm_fm_score(frequency_score, monetary_score) -%}
    floor(({{ frequency_score }} + {{ monetary_score }} + 1) / 2.0)
{%- endmacro %}

{% macro rfm_segment(recency_score, fm_score, orders) -%}
    case
        when {{ recency_score }} >= 4 and {{ orders }} = 1 then 'new'
        when {{ recency_score }} >= 4 and {{ fm_score }} >= 4 then 'champions'
        when {{ recency_score }} >= 3 and {{ fm_score }} >= 3 and {{ orders }} > 1 then 'loyal'
        when {{ recency_score }} >= 4 then 'potential_loyalist'
        when {{ recency_score }} = 3 then 'about_to_sleep'
        when {{ fm_score }} >= 4 then 'cant_lose'
        when {{ fm_score }} = 3 then 'at_risk'
        when {{ recency_score }} = 2 then 'hibernating'
        else 'lost'
    end
{%- endmacro %}
