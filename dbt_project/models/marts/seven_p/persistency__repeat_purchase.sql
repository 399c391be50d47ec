-- Persistency: how customers move from one order to the next. For every order number n (1st, 2nd, ...):
-- the customers who placed an n-th order, the share of them who placed an (n+1)-th, and the quartiles of the
-- days between the two. Customers whose n-th order is recent may still order again, so the share is the
-- share observed up to the last order in the data (DECISIONLOG.md, "Repeat purchase, cohort value, Pareto and discount codes").
with

orders as (

    select
        customer_id,
        order_sequence,
        ordered_at
    from {{ ref('fct_orders') }}

),

with_next as (

    select
        customer_id,
        order_sequence as order_number,
        ordered_at,
        lead(ordered_at) over (partition by customer_id order by order_sequence) as next_ordered_at
    from orders

),

gaps as (

    select
        order_number,
        customer_id,
        next_ordered_at is not null as ordered_again,
        case
            when next_ordered_at is not null
                then {{ dbt.datediff('ordered_at', 'next_ordered_at', 'second') }} / 86400.0
        end as days_to_next_order
    from with_next

),

final as (

    select
        cast(order_number as bigint) as order_number,
        cast(count(*) as bigint) as customers,
        cast(sum(case when ordered_again then 1 else 0 end) as bigint) as customers_ordering_again,
        cast(avg(case when ordered_again then 1 else 0 end) as double) as share_ordering_again,
        cast(percentile_cont(0.25) within group (order by days_to_next_order) as double)
            as days_to_next_order_p25,
        cast(percentile_cont(0.5) within group (order by days_to_next_order) as double)
            as median_days_to_next_order,
        cast(percentile_cont(0.75) within group (order by days_to_next_order) as double)
            as days_to_next_order_p75
    from gaps
    group by order_number

)

select * from final
