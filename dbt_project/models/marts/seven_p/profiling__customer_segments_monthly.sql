-- Profiling: every buyer's RFM segment at every month end from their first order on, scored with the rules
-- of customer_360 (macros/rfm.sql) on the orders up to that moment only (no look-ahead): recency from the
-- last order to the month end, frequency and revenue so far, quintiles among the buyers of that month end.
-- The base of profiling__segment_movement and of the segment dimension of performance__sales_monthly.
with

orders as (

    select
        customer_id,
        ordered_at,
        revenue
    from {{ ref('fct_orders') }}

),

months as (

    select distinct {{ dbt.date_trunc('month', 'ordered_at') }} as snapshot_month from orders

),

month_ends as (

    select
        snapshot_month,
        {{ dbt.dateadd('month', 1, 'snapshot_month') }} as snapshot_end
    from months

),

first_orders as (

    select
        customer_id,
        min(ordered_at) as first_order_at
    from orders
    group by customer_id

),

-- One row per customer and month end from the month of their first order on.
history as (

    select
        first_orders.customer_id,
        month_ends.snapshot_month,
        month_ends.snapshot_end,
        count(orders.ordered_at) as orders,
        coalesce(sum(orders.revenue), 0) as revenue,
        max(orders.ordered_at) as last_order_at
    from first_orders
    inner join month_ends on first_orders.first_order_at < month_ends.snapshot_end
    left join orders
        on
            first_orders.customer_id = orders.customer_id
            and month_ends.snapshot_end > orders.ordered_at
    group by first_orders.customer_id, month_ends.snapshot_month, month_ends.snapshot_end

),

scored as (

    select
        customer_id,
        snapshot_month,
        snapshot_end,
        orders,
        revenue,
        recency_days,
        {{ rfm_scores('recency_days', 'orders', 'revenue', partition_by='snapshot_month') }}
    from (
        select
            *,
            {{ dbt.datediff('last_order_at', 'snapshot_end', 'day') }} as recency_days
        from history
    ) as with_recency

),

segments as (

    select
        *,
        {{ rfm_segment('recency_score', rfm_fm_score('frequency_score', 'monetary_score'), 'orders') }}
            as segment
    from scored

),

final as (

    select
        customer_id,
        cast(snapshot_month as date) as snapshot_month,
        snapshot_end,
        -- The month this segment is the customer's standing in: the segment known at the month's start.
        cast({{ dbt.dateadd('month', 1, 'snapshot_month') }} as date) as applies_to_month,
        cast(orders as bigint) as orders,
        cast(revenue as double) as revenue,
        cast(recency_days as bigint) as recency_days,
        cast(recency_score as integer) as recency_score,
        cast(frequency_score as integer) as frequency_score,
        cast(monetary_score as integer) as monetary_score,
        segment
    from segments

)

select * from final
