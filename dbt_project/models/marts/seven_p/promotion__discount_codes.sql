-- Promotion: what each discount code brought. Per code used on orders: orders, buying customers, new
-- customers (whose first order used the code), the discount given, and the revenue and gross margin of
-- those orders. Codes are matched case-insensitively (staging upper-cases the promotions' codes).
with

orders as (

    select
        upper(trim(promotion_code)) as promotion_code,
        order_id,
        customer_id,
        is_first_order,
        discount_amount,
        revenue,
        gross_margin
    from {{ ref('fct_orders') }}
    where nullif(trim(promotion_code), '') is not null

),

promotions as (

    select
        promotion_code,
        min(description) as description,
        min(discount_pct) as discount_pct
    from {{ ref('stg_shop__promotions') }}
    group by promotion_code

),

per_code as (

    select
        promotion_code,
        count(*) as orders,
        count(distinct customer_id) as customers,
        count(distinct case when is_first_order then customer_id end) as new_customers,
        sum(discount_amount) as discount_amount,
        sum(revenue) as revenue,
        sum(gross_margin) as gross_margin
    from orders
    group by promotion_code

),

final as (

    select
        per_code.promotion_code,
        promotions.description,
        cast(promotions.discount_pct as double) as discount_pct,
        promotions.promotion_code is not null as is_known_promotion,
        cast(per_code.orders as bigint) as orders,
        cast(per_code.customers as bigint) as customers,
        cast(per_code.new_customers as bigint) as new_customers,
        cast(per_code.discount_amount as double) as discount_amount,
        cast(per_code.revenue as double) as revenue,
        cast(per_code.gross_margin as double) as gross_margin,
        cast(per_code.revenue / per_code.orders as double) as average_order_value
    from per_code
    left join promotions on per_code.promotion_code = promotions.promotion_code

)

select * from final
