-- Which unified customer placed each order: the account's customer for account orders, the checkout
-- e-mail's customer for guest orders.
with

orders as (

    select
        order_id,
        shop_customer_id,
        email
    from {{ ref('stg_shop__orders') }}

),

customer_keys as (

    select
        node_key,
        customer_id
    from {{ ref('int_identity__customer_keys') }}

),

assigned as (

    select
        orders.order_id,
        customer_keys.customer_id,
        orders.shop_customer_id is null as is_guest
    from orders
    inner join customer_keys
        on customer_keys.node_key = case
            when orders.shop_customer_id is not null then 'shop:' || orders.shop_customer_id
            else 'email:' || orders.email
        end

)

select * from assigned
