-- Promotion: who actually responds. Per campaign and RFM segment at send time (the customer's segment at
-- the end of the month before the send, profiling__customer_segments_monthly; 'prospect' for someone who
-- had not bought yet), conversion of the treated against the random control group and the uplift with its
-- 95 % interval, by the same method as promotion__campaign_effectiveness (macros/uplift.sql).
with

sends as (

    select
        campaign_id,
        customer_id,
        is_control,
        has_converted,
        conversion_revenue,
        {{ dbt.date_trunc('month', 'sent_at') }} as send_month
    from {{ ref('fct_campaign_sends') }}

),

segments as (

    select
        customer_id,
        applies_to_month as send_month,
        segment
    from {{ ref('profiling__customer_segments_monthly') }}

),

campaigns as (

    select
        campaign_id,
        campaign_name,
        channel
    from {{ ref('stg_marketing__campaigns') }}

),

arms as (

    select
        sends.campaign_id,
        coalesce(segments.segment, 'prospect') as rfm_segment,
        sum(case when not sends.is_control then 1 else 0 end) as treated_sends,
        sum(case when sends.is_control then 1 else 0 end) as control_sends,
        sum(case when not sends.is_control and sends.has_converted then 1 else 0 end) as treated_conversions,
        sum(case when sends.is_control and sends.has_converted then 1 else 0 end) as control_conversions,
        sum(case when not sends.is_control then sends.conversion_revenue else 0 end) as treated_revenue,
        sum(case when sends.is_control then sends.conversion_revenue else 0 end) as control_revenue
    from sends
    left join segments on sends.customer_id = segments.customer_id and sends.send_month = segments.send_month
    group by sends.campaign_id, coalesce(segments.segment, 'prospect')

),

final as (

    select
        arms.campaign_id,
        campaigns.campaign_name,
        campaigns.channel,
        arms.rfm_segment,
        cast(arms.treated_sends as bigint) as treated_sends,
        cast(arms.control_sends as bigint) as control_sends,
        cast(arms.treated_conversions as bigint) as treated_conversions,
        cast(arms.control_conversions as bigint) as control_conversions,
        cast(cast(arms.treated_conversions as double) / nullif(arms.treated_sends, 0) as double) as treated_conversion_rate,
        cast(cast(arms.control_conversions as double) / nullif(arms.control_sends, 0) as double) as control_conversion_rate,
        {{ uplift_columns('arms.treated_conversions', 'arms.treated_sends', 'arms.control_conversions', 'arms.control_sends') }},
        cast(
            (
                arms.treated_revenue / nullif(arms.treated_sends, 0)
                - arms.control_revenue / nullif(arms.control_sends, 0)
            ) * arms.treated_sends as double
        ) as incremental_revenue
    from arms
    left join campaigns on arms.campaign_id = campaigns.campaign_id

)

select * from final
