-- Profiling: how customers move between RFM segments from one month end to the next. At every month end
-- each customer who has ordered by then is scored with the RFM rules of customer_360 (macros/rfm.sql),
-- using only the orders up to that moment (no look-ahead): recency from the last order to the month end,
-- frequency and revenue so far, quintiles among the buyers of that month end. A customer's first month
-- moves from 'prospect' (not yet a buyer). revenue_next_90d is what the moving customers spent in the 90
-- days after the month end: which moves are worth acting on.
with

orders as (

    select
        customer_id,
        ordered_at,
        revenue
    from {{ ref('fct_orders') }}

),

segments as (

    select
        customer_id,
        snapshot_month,
        snapshot_end,
        segment
    from {{ ref('profiling__customer_segments_monthly') }}

),

data_end as (

    select max(ordered_at) as last_order_at from orders

),

moves as (

    select
        current_month.customer_id,
        current_month.snapshot_month,
        current_month.snapshot_end,
        coalesce(previous_month.segment, 'prospect') as from_segment,
        current_month.segment as to_segment
    from segments as current_month
    left join segments as previous_month
        on
            current_month.customer_id = previous_month.customer_id
            and previous_month.snapshot_month = {{ dbt.dateadd('month', -1, 'current_month.snapshot_month') }}

),

next_revenue as (

    select
        moves.customer_id,
        moves.snapshot_month,
        coalesce(sum(orders.revenue), 0) as revenue_next_90d
    from moves
    left join orders
        on
            moves.customer_id = orders.customer_id
            and moves.snapshot_end <= orders.ordered_at
            and {{ dbt.dateadd('day', 90, 'moves.snapshot_end') }} > orders.ordered_at
    group by moves.customer_id, moves.snapshot_month

),

final as (

    select
        cast(moves.snapshot_month as date) as snapshot_month,
        moves.from_segment,
        moves.to_segment,
        cast(count(*) as bigint) as customers,
        cast(sum(next_revenue.revenue_next_90d) as double) as revenue_next_90d,
        bool_and({{ dbt.dateadd('day', 90, 'moves.snapshot_end') }} <= data_end.last_order_at)
            as is_next_90d_complete
    from moves
    inner join next_revenue
        on
            moves.customer_id = next_revenue.customer_id
            and moves.snapshot_month = next_revenue.snapshot_month
    cross join data_end
    group by moves.snapshot_month, moves.from_segment, moves.to_segment

)

select * from final
