-- One row per return of an item from a surviving order.
with

returns as (

    select * from {{ ref('stg_shop__returns') }}

),

orders as (

    select
        order_id,
        customer_id,
        ordered_at,
        currency
    from {{ ref('fct_orders') }}

),

products as (

    select
        product_id,
        category
    from {{ ref('stg_shop__products') }}

),

final as (

    select
        returns.return_id,
        returns.order_id,
        orders.customer_id,
        returns.product_id,
        products.category,
        cast(returns.quantity as bigint) as quantity,
        cast(returns.refund_amount as double) as refund_amount,
        orders.currency,
        returns.returned_at,
        cast(returns.returned_at as date) as return_date,
        cast(
            {{ dbt.datediff('orders.ordered_at', 'returns.returned_at', 'day') }} as bigint
        ) as days_to_return,
        returns.reason
    from returns
    inner join orders on returns.order_id = orders.order_id
    left join products on returns.product_id = products.product_id

)

select * from final
