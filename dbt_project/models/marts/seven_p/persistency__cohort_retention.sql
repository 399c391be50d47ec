-- Persistency: monthly acquisition cohorts (month of first order) by months since the first order, with
-- the customers still buying and the cohort's revenue. Every cohort has a row for every month up to the
-- last month with orders, so months without any buyer show zero instead of being missing. The cumulative
-- revenue and gross margin per cohort customer by month are the cohort-LTV heatmap shop tools lead with.
with

orders as (

    select
        customer_id,
        ordered_at,
        revenue,
        gross_margin
    from {{ ref('fct_orders') }}

),

first_orders as (

    select
        customer_id,
        {{ dbt.date_trunc('month', 'min(ordered_at)') }} as cohort_month
    from orders
    group by customer_id

),

cohorts as (

    select
        cohort_month,
        count(*) as cohort_customers
    from first_orders
    group by cohort_month

),

months as (

    select distinct {{ dbt.date_trunc('month', 'ordered_at') }} as activity_month from orders

),

grid as (

    select
        cohorts.cohort_month,
        cohorts.cohort_customers,
        months.activity_month
    from cohorts
    inner join months on cohorts.cohort_month <= months.activity_month

),

activity as (

    select
        first_orders.cohort_month,
        {{ dbt.date_trunc('month', 'orders.ordered_at') }} as activity_month,
        count(distinct orders.customer_id) as active_customers,
        count(*) as orders,
        sum(orders.revenue) as revenue,
        sum(orders.gross_margin) as gross_margin
    from orders
    inner join first_orders on orders.customer_id = first_orders.customer_id
    group by first_orders.cohort_month, {{ dbt.date_trunc('month', 'orders.ordered_at') }}

),

final as (

    select
        cast(grid.cohort_month as date) as cohort_month,
        cast(
            {{ dbt.datediff('grid.cohort_month', 'grid.activity_month', 'month') }} as bigint
        ) as months_since_first_order,
        cast(grid.activity_month as date) as activity_month,
        cast(grid.cohort_customers as bigint) as cohort_customers,
        cast(coalesce(activity.active_customers, 0) as bigint) as active_customers,
        cast(cast(coalesce(activity.active_customers, 0) as double) / grid.cohort_customers as double)
            as retention_rate,
        cast(coalesce(activity.orders, 0) as bigint) as orders,
        cast(coalesce(activity.revenue, 0) as double) as revenue,
        cast(coalesce(activity.revenue, 0) / grid.cohort_customers as double) as revenue_per_cohort_customer,
        cast(coalesce(activity.gross_margin, 0) as double) as gross_margin,
        cast(
            sum(coalesce(activity.revenue, 0)) over (
                partition by grid.cohort_month order by grid.activity_month
                rows between unbounded preceding and current row
            ) / grid.cohort_customers as double
        ) as cumulative_revenue_per_customer,
        cast(
            sum(coalesce(activity.gross_margin, 0)) over (
                partition by grid.cohort_month order by grid.activity_month
                rows between unbounded preceding and current row
            ) / grid.cohort_customers as double
        ) as cumulative_margin_per_customer
    from grid
    left join activity
        on
            grid.cohort_month = activity.cohort_month
            and grid.activity_month = activity.activity_month

)

select * from final
