{%- set medium_from, high_from = var('churn_band_thresholds') -%}
{%- if not (medium_from | float) <= (high_from | float) -%}
    {{ exceptions.raise_compiler_error(
        "var churn_band_thresholds must be [medium_from, high_from] with medium_from <= high_from, got "
        ~ var('churn_band_thresholds')) }}
{%- endif -%}
with

source as (

    select * from {{ source('ml', 'customer_predictions') }}

),

renamed as (

    select
        customer_id,
        frequency,
        recency,
        t as customer_age,
        monetary_value,
        probability_alive,
        expected_purchases_30d,
        expected_purchases_90d,
        expected_purchases_365d,
        expected_order_value,
        clv_12m,
        clv_margin_12m,
        churn_risk,
        -- The one definition of the churn band: low below the first threshold, high from the second.
        case
            when churn_risk_relative >= {{ high_from }} then 'high'
            when churn_risk_relative >= {{ medium_from }} then 'medium'
            when churn_risk_relative is not null then 'low'
        end as churn_band,
        churn_model,
        cast(expected_next_order_date as date) as expected_next_order_date,
        {{ to_utc('predicted_at') }} as predicted_at,
        expected_purchases_90d_low,
        expected_purchases_90d_high,
        clv_12m_low,
        clv_12m_high,
        clv_3m,
        clv_36m,
        clv_annual_discount_rate,
        churn_risk_relative

    from source

)

select * from renamed
