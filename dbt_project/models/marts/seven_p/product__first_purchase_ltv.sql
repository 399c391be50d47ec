-- Product: what a customer's first purchase says about their value. Per category of the first order (the
-- category with the most revenue in it; alphabetical on a tie) and per first-order product (the 20
-- products most often in a first order): customers, the share who ordered again, and the mean revenue and
-- gross margin of their later orders in the 12 months after the first. The 12-month means use only
-- customers whose first order is at least 12 months before the last order loaded (mature_customers), so
-- recent customers do not drag them down.
with

orders as (

    select
        order_id,
        customer_id,
        ordered_at,
        is_first_order,
        revenue,
        gross_margin
    from {{ ref('fct_orders') }}

),

lines as (

    select
        order_id,
        product_id,
        coalesce(category, 'uncategorised') as category,
        revenue
    from {{ ref('fct_order_lines') }}

),

data_end as (

    select max(ordered_at) as last_order_at from orders

),

first_orders as (

    select
        order_id,
        customer_id,
        ordered_at as first_order_at
    from orders
    where is_first_order

),

first_categories as (

    select
        first_orders.customer_id,
        lines.category,
        row_number() over (
            partition by first_orders.customer_id order by sum(lines.revenue) desc, lines.category
        ) as n
    from first_orders
    inner join lines on first_orders.order_id = lines.order_id
    group by first_orders.customer_id, lines.category

),

first_products as (

    select distinct
        first_orders.customer_id,
        lines.product_id
    from first_orders
    inner join lines on first_orders.order_id = lines.order_id

),

top_products as (

    select product_id
    from first_products
    group by product_id
    order by count(*) desc, product_id
    limit 20

),

later as (

    select
        first_orders.customer_id,
        first_orders.first_order_at,
        {{ dbt.dateadd('month', 12, 'first_orders.first_order_at') }} <= data_end.last_order_at as is_mature,
        count(orders.order_id) as later_orders,
        coalesce(sum(
            case
                when orders.ordered_at < {{ dbt.dateadd('month', 12, 'first_orders.first_order_at') }}
                    then orders.revenue
            end
        ), 0) as revenue_12m,
        coalesce(sum(
            case
                when orders.ordered_at < {{ dbt.dateadd('month', 12, 'first_orders.first_order_at') }}
                    then orders.gross_margin
            end
        ), 0) as margin_12m
    from first_orders
    cross join data_end
    left join orders
        on first_orders.customer_id = orders.customer_id and not orders.is_first_order
    group by first_orders.customer_id, first_orders.first_order_at, data_end.last_order_at

),

by_first_purchase as (

    select
        'category' as level,
        first_categories.category as first_purchase,
        cast(null as {{ dbt.type_string() }}) as product_id,
        later.*
    from later
    inner join first_categories on later.customer_id = first_categories.customer_id and first_categories.n = 1
    union all
    select
        'product' as level,
        coalesce(products.product_name, first_products.product_id) as first_purchase,
        first_products.product_id,
        later.*
    from later
    inner join first_products on later.customer_id = first_products.customer_id
    inner join top_products on first_products.product_id = top_products.product_id
    left join {{ ref('dim_products') }} as products on first_products.product_id = products.product_id

),

final as (

    select
        level,
        first_purchase,
        product_id,
        cast(count(*) as bigint) as customers,
        cast(avg(case when later_orders > 0 then 1 else 0 end) as double) as repeat_rate,
        cast(sum(case when is_mature then 1 else 0 end) as bigint) as mature_customers,
        cast(avg(case when is_mature then revenue_12m end) as double) as revenue_12m_per_customer,
        cast(avg(case when is_mature then margin_12m end) as double) as margin_12m_per_customer
    from by_first_purchase
    group by level, first_purchase, product_id

)

select * from final
