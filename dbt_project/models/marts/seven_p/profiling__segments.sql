-- Profiling: size and value of each RFM segment (prospects, who never bought, included).
with

customers as (

    select * from {{ ref('customer_360') }}

),

totals as (

    select
        count(*) as all_customers,
        sum(revenue) as all_revenue
    from customers

),

segments as (

    select
        rfm_segment,
        count(*) as customers,
        sum(case when is_identified then 1 else 0 end) as identified_customers,
        sum(case when email_opt_in then 1 else 0 end) as email_reachable_customers,
        sum(revenue) as revenue,
        sum(gross_margin) as gross_margin,
        sum(net_revenue) as net_revenue,
        avg(revenue) as revenue_per_customer,
        avg(orders) as orders_per_customer,
        avg(recency_days) as mean_recency_days,
        sum(clv_12m) as clv_12m,
        avg(clv_12m) as clv_12m_per_customer,
        avg(churn_risk) as mean_churn_risk
    from customers
    group by rfm_segment

),

final as (

    select
        segments.rfm_segment,
        cast(segments.customers as bigint) as customers,
        cast(segments.identified_customers as bigint) as identified_customers,
        cast(segments.email_reachable_customers as bigint) as email_reachable_customers,
        cast(cast(segments.customers as double) / totals.all_customers as double) as share_of_customers,
        cast(segments.revenue as double) as revenue,
        cast(segments.revenue / nullif(totals.all_revenue, 0) as double) as share_of_revenue,
        cast(segments.gross_margin as double) as gross_margin,
        cast(segments.net_revenue as double) as net_revenue,
        cast(segments.revenue_per_customer as double) as revenue_per_customer,
        cast(segments.orders_per_customer as double) as orders_per_customer,
        cast(segments.mean_recency_days as double) as mean_recency_days,
        cast(segments.clv_12m as double) as clv_12m,
        cast(segments.clv_12m_per_customer as double) as clv_12m_per_customer,
        cast(segments.mean_churn_risk as double) as mean_churn_risk
    from segments
    cross join totals

)

select * from final
