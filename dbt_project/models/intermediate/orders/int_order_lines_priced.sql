-- Order lines with the order's context, the product's cost and their share of the order discount.
-- Lines of orders that did not survive the contracts are dropped (inner join), so lines always add up
-- to their order.
with

lines as (

    select * from {{ ref('stg_shop__order_lines') }}

),

orders as (

    select * from {{ ref('stg_shop__orders') }}

),

products as (

    select
        product_id,
        category,
        unit_cost
    from {{ ref('stg_shop__products') }}

),

priced as (

    select
        lines.order_line_id,
        lines.order_id,
        lines.line_number,
        lines.product_id,
        products.category,
        lines.quantity,
        lines.unit_price,
        products.unit_cost,
        lines.quantity * lines.unit_price as gross_sales,
        coalesce(lines.quantity * products.unit_cost, 0) as cost,
        orders.discount_amount as order_discount_amount,
        orders.ordered_at,
        orders.currency,
        orders.sales_channel,
        orders.device,
        orders.country
    from lines
    inner join orders on lines.order_id = orders.order_id
    left join products on lines.product_id = products.product_id

),

allocated as (

    -- The order discount is spread over the lines in proportion to their gross sales, so line revenue
    -- adds up to order revenue; an order whose lines are all free takes the discount on its first line.
    select
        priced.*,
        case
            when sum(priced.gross_sales) over (partition by priced.order_id) > 0
                then
                    priced.order_discount_amount
                    * priced.gross_sales
                    / sum(priced.gross_sales) over (partition by priced.order_id)
            when
                priced.line_number = min(priced.line_number) over (partition by priced.order_id)
                then priced.order_discount_amount
            else 0
        end as discount_amount
    from priced

),

final as (

    select
        order_line_id,
        order_id,
        line_number,
        product_id,
        category,
        quantity,
        unit_price,
        unit_cost,
        gross_sales,
        discount_amount,
        gross_sales - discount_amount as revenue,
        cost,
        gross_sales - discount_amount - cost as gross_margin,
        ordered_at,
        currency,
        sales_channel,
        device,
        country
    from allocated

)

select * from final
