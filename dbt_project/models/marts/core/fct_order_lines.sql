-- One row per order line of a surviving order, priced with its share of the order discount and its cost.
with

lines as (

    select * from {{ ref('int_order_lines_priced') }}

),

assigned as (

    select * from {{ ref('int_orders_assigned_to_customers') }}

),

final as (

    select
        lines.order_line_id,
        lines.order_id,
        cast(lines.line_number as bigint) as line_number,
        assigned.customer_id,
        lines.ordered_at,
        cast(lines.ordered_at as date) as order_date,
        lines.sales_channel,
        lines.device,
        lines.country,
        lines.product_id,
        lines.category,
        cast(lines.quantity as bigint) as quantity,
        cast(lines.unit_price as double) as unit_price,
        cast(lines.unit_cost as double) as unit_cost,
        cast(lines.gross_sales as double) as gross_sales,
        cast(lines.discount_amount as double) as discount_amount,
        cast(lines.revenue as double) as revenue,
        cast(lines.cost as double) as cost,
        cast(lines.gross_margin as double) as gross_margin,
        lines.currency
    from lines
    inner join assigned on lines.order_id = assigned.order_id

)

select * from final
