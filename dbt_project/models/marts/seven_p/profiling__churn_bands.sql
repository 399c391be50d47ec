-- Profiling: buyers by churn band (low, medium, high risk of having stopped buying), country and RFM
-- segment, ordered low to high by band_order. Every buyer is in exactly one row, so counts and sums add up
-- over countries and segments; a mean is the sum divided by scored_customers.
with

buyers as (

    select
        coalesce(churn_band, 'not scored') as churn_band,
        coalesce(country, 'unknown') as country,
        rfm_segment,
        revenue,
        clv_12m,
        clv_margin_12m,
        probability_alive,
        expected_purchases_90d
    from {{ ref('customer_360') }}
    where orders > 0

),

final as (

    select
        churn_band,
        cast(
            case churn_band when 'low' then 1 when 'medium' then 2 when 'high' then 3 else 4 end as integer
        ) as band_order,
        country,
        rfm_segment,
        cast(count(*) as bigint) as customers,
        cast(count(probability_alive) as bigint) as scored_customers,
        cast(sum(revenue) as double) as revenue,
        cast(coalesce(sum(clv_12m), 0) as double) as clv_12m,
        cast(coalesce(sum(clv_margin_12m), 0) as double) as clv_margin_12m,
        cast(coalesce(sum(probability_alive), 0) as double) as probability_alive_sum,
        cast(coalesce(sum(expected_purchases_90d), 0) as double) as expected_purchases_90d
    from buyers
    group by churn_band, country, rfm_segment

)

select * from final
