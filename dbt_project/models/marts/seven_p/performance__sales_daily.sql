-- Performance: sales by day, product category, sales channel and shipping country.
with

lines as (

    select * from {{ ref('fct_order_lines') }}

),

orders as (

    select
        order_id,
        is_first_order
    from {{ ref('fct_orders') }}

),

final as (

    select
        lines.order_date,
        coalesce(lines.category, 'unknown') as category,
        lines.sales_channel,
        coalesce(lines.country, 'unknown') as country,
        cast(count(distinct lines.order_id) as bigint) as orders,
        cast(count(distinct case when orders.is_first_order then lines.order_id end) as bigint)
            as first_orders,
        cast(count(distinct lines.customer_id) as bigint) as customers,
        cast(sum(lines.quantity) as bigint) as items,
        cast(sum(lines.gross_sales) as double) as gross_sales,
        cast(sum(lines.discount_amount) as double) as discount_amount,
        cast(sum(lines.revenue) as double) as revenue,
        cast(sum(lines.cost) as double) as cost,
        cast(sum(lines.gross_margin) as double) as gross_margin
    from lines
    inner join orders on lines.order_id = orders.order_id
    group by
        lines.order_date,
        coalesce(lines.category, 'unknown'),
        lines.sales_channel,
        coalesce(lines.country, 'unknown')

)

select * from final
