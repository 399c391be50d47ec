-- Profiling: how the predicted 12-month CLV and the probability alive are spread over the scored buyers,
-- as histogram bins per churn band, country and RFM segment. Counts add up over countries and segments,
-- so the Value & churn page draws the spread for any filter without loading one row per customer.
with

scored as (

    select
        coalesce(churn_band, 'not scored') as churn_band,
        coalesce(country, 'unknown') as country,
        rfm_segment,
        clv_12m,
        probability_alive
    from {{ ref('customer_360') }}
    where orders > 0 and probability_alive is not null

),

clv_bins as (

    select
        edges.bin,
        edges.bin_low,
        edges.bin_high
    from (
        values
        (1, 0.0, 10.0), (2, 10.0, 25.0), (3, 25.0, 50.0), (4, 50.0, 100.0), (5, 100.0, 200.0),
        (6, 200.0, 500.0), (7, 500.0, 1000.0), (8, 1000.0, 2000.0), (9, 2000.0, 5000.0), (10, 5000.0, null)
    ) as edges (bin, bin_low, bin_high)

),

clv as (

    select
        'clv_12m' as measure,
        clv_bins.bin,
        clv_bins.bin_low,
        clv_bins.bin_high,
        scored.churn_band,
        scored.country,
        scored.rfm_segment
    from scored
    inner join clv_bins
        on
            (greatest(coalesce(scored.clv_12m, 0), 0) >= clv_bins.bin_low)
            and (clv_bins.bin_high is null or greatest(coalesce(scored.clv_12m, 0), 0) < clv_bins.bin_high)

),

alive as (

    select
        'probability_alive' as measure,
        cast(least(floor(probability_alive * 20), 19) + 1 as integer) as bin,
        (least(floor(probability_alive * 20), 19)) / 20.0 as bin_low,
        (least(floor(probability_alive * 20), 19) + 1) / 20.0 as bin_high,
        churn_band,
        country,
        rfm_segment
    from scored

),

final as (

    select
        measure,
        cast(bin as integer) as bin,
        cast(bin_low as double) as bin_low,
        cast(bin_high as double) as bin_high,
        churn_band,
        cast(
            case churn_band when 'low' then 1 when 'medium' then 2 when 'high' then 3 else 4 end as integer
        ) as band_order,
        country,
        rfm_segment,
        cast(count(*) as bigint) as customers
    from (
        select * from clv
        union all
        select * from alive
    ) as binned
    group by measure, bin, bin_low, bin_high, churn_band, country, rfm_segment

)

select * from final
