-- Product: what each customer buys, by category. One row per customer and category bought, ranked by
-- revenue; rank 1 is the customer's favourite category (customer_360.favourite_category, and the category
-- whose best sellers fill up a customer's recommendations).
with

lines as (

    select
        customer_id,
        order_id,
        category,
        quantity,
        revenue,
        gross_margin,
        ordered_at
    from {{ ref('fct_order_lines') }}
    where category is not null

),

by_category as (

    select
        customer_id,
        category,
        count(distinct order_id) as orders,
        sum(quantity) as units,
        sum(revenue) as revenue,
        sum(gross_margin) as gross_margin,
        min(ordered_at) as first_bought_at,
        max(ordered_at) as last_bought_at
    from lines
    group by customer_id, category

),

final as (

    select
        customer_id,
        category,
        cast(orders as bigint) as orders,
        cast(units as bigint) as units,
        cast(revenue as double) as revenue,
        cast(gross_margin as double) as gross_margin,
        cast(revenue / nullif(sum(revenue) over (partition by customer_id), 0) as double) as share_of_revenue,
        first_bought_at,
        last_bought_at,
        cast(row_number() over (partition by customer_id order by revenue desc, category asc) as bigint)
            as category_rank
    from by_category

)

select * from final
