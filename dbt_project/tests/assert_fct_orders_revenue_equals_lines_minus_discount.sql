-- Business rule: an order's revenue is the sum of its lines' quantity * unit_price minus the order discount
-- (and its fct_order_lines revenue, after the discount is allocated, adds up to the same figure).
with

lines as (

    select
        order_id,
        sum(quantity * unit_price) as lines_gross_sales,
        sum(revenue) as lines_revenue
    from {{ ref('fct_order_lines') }}
    group by order_id

)

select
    orders.order_id,
    orders.revenue,
    coalesce(lines.lines_gross_sales, 0) - orders.discount_amount as expected_revenue,
    lines.lines_revenue
from {{ ref('fct_orders') }} as orders
left join lines on orders.order_id = lines.order_id
where
    abs(orders.revenue - (coalesce(lines.lines_gross_sales, 0) - orders.discount_amount)) > 0.005
    or (lines.order_id is not null and abs(orders.revenue - lines.lines_revenue) > 0.005)
