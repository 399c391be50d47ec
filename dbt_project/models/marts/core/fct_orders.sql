-- One row per order that survived the data contracts, with its customer, money and sequence.
with

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

assigned as (

    select * from {{ ref('int_orders_assigned_to_customers') }}

),

-- An order's sums of its lines and refunds are rounded to 6 decimals, far below any currency's smallest
-- unit: a sum of floating-point amounts depends on the order it is added in (DuckDB and Spark differ in
-- its last bits), and the same order must carry the same amounts on every engine (the customer models
-- bin and deduplicate them).
lines as (

    select
        order_id,
        count(*) as line_count,
        sum(quantity) as items,
        round(sum(gross_sales), 6) as gross_sales,
        round(sum(cost), 6) as cost
    from {{ ref('int_order_lines_priced') }}
    group by order_id

),

-- Returned units go back to stock: their cost (at the product's current unit cost, as the lines' cost) is
-- recovered in net_margin. A return of a product the catalogue lacks recovers nothing, as its line cost nothing.
refunds as (

    select
        returns.order_id,
        round(sum(returns.refund_amount), 6) as refund_amount,
        sum(returns.quantity) as returned_items,
        round(sum(coalesce(returns.quantity * products.unit_cost, 0)), 6) as returned_cost
    from {{ ref('stg_shop__returns') }} as returns
    left join {{ ref('stg_shop__products') }} as products on returns.product_id = products.product_id
    group by returns.order_id

),

joined as (

    select
        orders.order_id,
        assigned.customer_id,
        orders.shop_customer_id,
        assigned.is_guest,
        orders.email,
        orders.ordered_at,
        cast(orders.ordered_at as date) as order_date,
        orders.currency,
        orders.sales_channel,
        orders.device,
        orders.country,
        orders.region,
        orders.city,
        orders.promotion_code,
        coalesce(lines.line_count, 0) as line_count,
        coalesce(lines.items, 0) as items,
        coalesce(lines.gross_sales, 0) as gross_sales,
        orders.discount_amount,
        coalesce(lines.cost, 0) as cost,
        orders.shipping_amount,
        coalesce(refunds.refund_amount, 0) as refund_amount,
        coalesce(refunds.returned_items, 0) as returned_items,
        coalesce(refunds.returned_cost, 0) as returned_cost
    from orders
    inner join assigned on orders.order_id = assigned.order_id
    left join lines on orders.order_id = lines.order_id
    left join refunds on orders.order_id = refunds.order_id

),

final as (

    select
        order_id,
        customer_id,
        shop_customer_id,
        is_guest,
        email,
        ordered_at,
        order_date,
        currency,
        sales_channel,
        device,
        country,
        region,
        city,
        promotion_code,
        cast(line_count as bigint) as line_count,
        cast(items as bigint) as items,
        cast(gross_sales as double) as gross_sales,
        cast(discount_amount as double) as discount_amount,
        cast(gross_sales - discount_amount as double) as revenue,
        cast(cost as double) as cost,
        cast(gross_sales - discount_amount - cost as double) as gross_margin,
        cast(shipping_amount as double) as shipping_amount,
        cast(refund_amount as double) as refund_amount,
        cast(returned_items as bigint) as returned_items,
        cast(returned_cost as double) as returned_cost,
        cast(gross_sales - discount_amount - refund_amount as double) as net_revenue,
        -- The one definition of an order's margin after returns: the customer models' margin CLV and
        -- profitability__customers both use it (DECISIONLOG.md, "What margin includes").
        cast(gross_sales - discount_amount - cost - refund_amount + returned_cost as double) as net_margin,
        cast(row_number() over (
            partition by customer_id order by ordered_at, order_id
        ) as bigint) as order_sequence
    from joined

)

select
    final.*,
    final.order_sequence = 1 as is_first_order
from final
