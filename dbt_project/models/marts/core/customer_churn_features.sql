-- The churn classifier's features beyond RFM, per customer as they stood at each churn cutoff (no look-ahead):
-- the last order day of the data ('score'), one churn horizon before it ('evaluate') and two ('train'). A
-- feature at a cutoff counts only what happened on or before the cutoff's day; the label (an order in the
-- horizon after it) starts the next day. The customer models asset reads this table as it is; RFM features
-- come from the orders themselves (orchestration.analytics.churn.rfm_features).
with

cutoffs as (

    select
        role.cutoff_role,
        cast(max(orders.ordered_at) as date) - role.horizons * {{ var('churn_horizon_days') }} as as_of_date
    from {{ ref('fct_orders') }} as orders
    cross join (values ('score', 0), ('evaluate', 1), ('train', 2)) as role (cutoff_role, horizons)
    group by role.cutoff_role, role.horizons

),

-- Everything on or before the cutoff's day is the past.
bounds as (

    select
        cutoff_role,
        as_of_date,
        cast(as_of_date + interval 1 day as timestamp) as past_before
    from cutoffs

),

buyers as (

    select
        bounds.cutoff_role,
        bounds.as_of_date,
        bounds.past_before,
        orders.customer_id
    from bounds
    inner join {{ ref('fct_orders') }} as orders on bounds.past_before > orders.ordered_at
    group by bounds.cutoff_role, bounds.as_of_date, bounds.past_before, orders.customer_id

),

web as (

    select
        buyers.cutoff_role,
        buyers.customer_id,
        count(*) as sessions_90d
    from buyers
    inner join {{ ref('fct_sessions') }} as sessions
        on
            buyers.customer_id = sessions.customer_id
            and buyers.past_before > sessions.started_at
            and buyers.past_before - interval 90 day <= sessions.started_at
    group by buyers.cutoff_role, buyers.customer_id

),

service as (

    select
        buyers.cutoff_role,
        buyers.customer_id,
        count(*) as tickets,
        avg(tickets.satisfaction_score) as mean_satisfaction
    from buyers
    inner join {{ ref('fct_support_tickets') }} as tickets
        on buyers.customer_id = tickets.customer_id and buyers.past_before > tickets.opened_at
    group by buyers.cutoff_role, buyers.customer_id

),

reviews as (

    select
        buyers.cutoff_role,
        buyers.customer_id,
        avg(reviews.score) as mean_review_score
    from buyers
    inner join {{ ref('fct_reviews') }} as reviews
        on buyers.customer_id = reviews.customer_id and buyers.past_before > reviews.created_at
    group by buyers.cutoff_role, buyers.customer_id

),

-- Sends of campaigns (never the control group, which received nothing), and what the customer had done with
-- them by the cutoff.
marketing as (

    select
        buyers.cutoff_role,
        buyers.customer_id,
        count(distinct sends.campaign_id) as campaigns_received,
        avg(case when sends.opened_at < buyers.past_before then 1 else 0 end) as open_rate,
        max(case when sends.unsubscribed_at < buyers.past_before then 1 else 0 end) as unsubscribed
    from buyers
    inner join {{ ref('fct_campaign_sends') }} as sends
        on
            buyers.customer_id = sends.customer_id
            and not sends.is_control
            and buyers.past_before > sends.sent_at
    group by buyers.cutoff_role, buyers.customer_id

),

final as (

    select
        buyers.customer_id,
        buyers.cutoff_role,
        buyers.as_of_date,
        cast(coalesce(web.sessions_90d, 0) as bigint) as sessions_90d,
        cast(coalesce(service.tickets, 0) as bigint) as tickets,
        cast(service.mean_satisfaction as double) as mean_satisfaction,
        cast(coalesce(marketing.campaigns_received, 0) as bigint) as campaigns_received,
        cast(marketing.open_rate as double) as open_rate,
        cast(coalesce(marketing.unsubscribed, 0) as integer) as unsubscribed,
        cast(reviews.mean_review_score as double) as mean_review_score
    from buyers
    left join web on buyers.cutoff_role = web.cutoff_role and buyers.customer_id = web.customer_id
    left join service on buyers.cutoff_role = service.cutoff_role and buyers.customer_id = service.customer_id
    left join marketing on buyers.cutoff_role = marketing.cutoff_role and buyers.customer_id = marketing.customer_id
    left join reviews on buyers.cutoff_role = reviews.cutoff_role and buyers.customer_id = reviews.customer_id

)

select * from final
