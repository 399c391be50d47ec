-- Performance: monthly sales per product, sales channel and shipping country, for the drill-down from a
-- category to its products. Lines carry their share of the order discount (fct_order_lines), so revenue
-- sums to performance__sales_monthly.revenue of the same month, category, channel and country.
with

lines as (

    select
        fct_order_lines.order_id,
        fct_order_lines.product_id,
        {{ dbt.date_trunc('month', 'fct_order_lines.ordered_at') }} as month,
        coalesce(fct_order_lines.category, 'uncategorised') as category,
        fct_order_lines.sales_channel,
        coalesce(fct_order_lines.country, 'unknown') as country,
        fct_order_lines.customer_id,
        fct_order_lines.quantity,
        fct_order_lines.revenue,
        fct_order_lines.gross_margin
    from {{ ref('fct_order_lines') }} as fct_order_lines

),

grouped as (

    select
        month,
        product_id,
        category,
        sales_channel,
        country,
        count(distinct order_id) as orders,
        count(distinct customer_id) as customers,
        sum(quantity) as units,
        sum(revenue) as revenue,
        sum(gross_margin) as gross_margin
    from lines
    group by month, product_id, category, sales_channel, country

),

final as (

    select
        cast(grouped.month as date) as month,
        grouped.product_id,
        coalesce(dim_products.product_name, grouped.product_id) as product_name,
        dim_products.brand,
        grouped.category,
        grouped.sales_channel,
        grouped.country,
        cast(grouped.orders as bigint) as orders,
        cast(grouped.customers as bigint) as customers,
        cast(grouped.units as bigint) as units,
        cast(grouped.revenue as double) as revenue,
        cast(grouped.gross_margin as double) as gross_margin
    from grouped
    left join {{ ref('dim_products') }} as dim_products on grouped.product_id = dim_products.product_id

)

select * from final
