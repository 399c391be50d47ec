-- Promotion: per campaign, conversion of the treated against the random control group within the
-- attribution window (`attribution_days` after the send), the uplift with its 95 % confidence interval,
-- and what the uplift earned against what the campaign cost.
--   uplift and its 95 % interval: macros/uplift.sql (Agresti-Caffo adjusted Wald interval)
--   incremental revenue = (revenue per treated send - revenue per control send) * treated sends
--   roi = (incremental gross margin - cost) / cost
with

campaigns as (

    select * from {{ ref('stg_marketing__campaigns') }}

),

sends as (

    select * from {{ ref('fct_campaign_sends') }}

),

arms as (

    select
        campaign_id,
        sum(case when not is_control then 1 else 0 end) as treated_sends,
        sum(case when is_control then 1 else 0 end) as control_sends,
        sum(case when not is_control and has_converted then 1 else 0 end) as treated_conversions,
        sum(case when is_control and has_converted then 1 else 0 end) as control_conversions,
        sum(case when not is_control then conversion_revenue else 0 end) as treated_revenue,
        sum(case when is_control then conversion_revenue else 0 end) as control_revenue,
        sum(case when not is_control then conversion_gross_margin else 0 end) as treated_gross_margin,
        sum(case when is_control then conversion_gross_margin else 0 end) as control_gross_margin,
        sum(case when not is_control and is_opened then 1 else 0 end) as opens,
        sum(case when not is_control and is_clicked then 1 else 0 end) as clicks,
        sum(case when is_unsubscribed then 1 else 0 end) as unsubscribes
    from sends
    group by campaign_id

),

rates as (

    select
        campaigns.campaign_id,
        campaigns.campaign_name,
        campaigns.channel,
        campaigns.started_at,
        campaigns.ended_at,
        campaigns.cost,
        campaigns.currency,
        coalesce(arms.treated_sends, 0) as treated_sends,
        coalesce(arms.control_sends, 0) as control_sends,
        coalesce(arms.treated_conversions, 0) as treated_conversions,
        coalesce(arms.control_conversions, 0) as control_conversions,
        cast(arms.treated_conversions as double) / nullif(arms.treated_sends, 0) as treated_conversion_rate,
        cast(arms.control_conversions as double) / nullif(arms.control_sends, 0) as control_conversion_rate,
        arms.treated_revenue / nullif(arms.treated_sends, 0) as treated_revenue_per_send,
        arms.control_revenue / nullif(arms.control_sends, 0) as control_revenue_per_send,
        arms.treated_gross_margin / nullif(arms.treated_sends, 0) as treated_margin_per_send,
        arms.control_gross_margin / nullif(arms.control_sends, 0) as control_margin_per_send,
        coalesce(arms.opens, 0) as opens,
        coalesce(arms.clicks, 0) as clicks,
        coalesce(arms.unsubscribes, 0) as unsubscribes
    from campaigns
    left join arms on campaigns.campaign_id = arms.campaign_id

),

uplift as (

    select
        rates.*,
        {{ uplift_columns('rates.treated_conversions', 'rates.treated_sends', 'rates.control_conversions', 'rates.control_sends') }},
        (rates.treated_revenue_per_send - rates.control_revenue_per_send)
        * rates.treated_sends as incremental_revenue,
        (rates.treated_margin_per_send - rates.control_margin_per_send)
        * rates.treated_sends as incremental_gross_margin
    from rates

),

final as (

    select
        campaign_id,
        campaign_name,
        channel,
        started_at,
        ended_at,
        cast(treated_sends as bigint) as treated_sends,
        cast(control_sends as bigint) as control_sends,
        cast(treated_conversions as bigint) as treated_conversions,
        cast(control_conversions as bigint) as control_conversions,
        cast(treated_conversion_rate as double) as treated_conversion_rate,
        cast(control_conversion_rate as double) as control_conversion_rate,
        uplift,
        uplift_std_error,
        uplift_ci_low,
        uplift_ci_high,
        is_significant,
        cast(uplift * treated_sends as double) as incremental_conversions,
        cast(treated_revenue_per_send as double) as treated_revenue_per_send,
        cast(control_revenue_per_send as double) as control_revenue_per_send,
        cast(incremental_revenue as double) as incremental_revenue,
        cast(incremental_gross_margin as double) as incremental_gross_margin,
        cast(cost as double) as cost,
        currency,
        cast(incremental_revenue / nullif(cost, 0) as double) as incremental_roas,
        cast((incremental_gross_margin - cost) / nullif(cost, 0) as double) as roi,
        cast(opens as bigint) as opens,
        cast(clicks as bigint) as clicks,
        cast(cast(opens as double) / nullif(treated_sends, 0) as double) as open_rate,
        cast(cast(clicks as double) / nullif(treated_sends, 0) as double) as click_rate,
        cast(unsubscribes as bigint) as unsubscribes,
        {{ var('attribution_days') }} as attribution_days
    from uplift

)

select * from final
