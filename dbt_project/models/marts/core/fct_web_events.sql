-- One row per tracked web event with its customer.
with

events as (

    select * from {{ ref('stg_web__events') }}

),

customer_keys as (

    select
        node_key,
        customer_id
    from {{ ref('int_identity__customer_keys') }}

),

final as (

    select
        events.event_id,
        events.session_id,
        coalesce(account.customer_id, browser.customer_id) as customer_id,
        events.anonymous_id,
        events.user_id as shop_customer_id,
        events.event_type,
        events.event_at,
        cast(events.event_at as date) as event_date,
        events.product_id,
        events.search_query,
        events.order_id
    from events
    left join customer_keys as account on account.node_key = 'shop:' || events.user_id
    left join customer_keys as browser on browser.node_key = 'web:' || events.anonymous_id

)

select * from final
