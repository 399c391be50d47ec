-- One row per campaign targeting (treated send or control hold-out) with the customer's response and the
-- orders placed within the attribution window after the (would-be) send.
with

sends as (

    select * from {{ ref('stg_marketing__sends') }}

),

customer_keys as (

    select
        node_key,
        customer_id
    from {{ ref('int_identity__customer_keys') }}

),

orders as (

    select
        customer_id,
        order_id,
        ordered_at,
        revenue,
        gross_margin
    from {{ ref('fct_orders') }}

),

keyed as (

    select
        sends.*,
        customer_keys.customer_id
    from sends
    inner join customer_keys on customer_keys.node_key = 'crm:' || sends.crm_customer_id

),

-- Control members are measured over the same window from the time they would have been sent to, so
-- treated and control conversion rates compare like with like.
conversions as (

    select
        keyed.send_id,
        count(orders.order_id) as conversion_orders,
        sum(orders.revenue) as conversion_revenue,
        sum(orders.gross_margin) as conversion_gross_margin
    from keyed
    inner join orders
        on
            keyed.customer_id = orders.customer_id
            and keyed.sent_at < orders.ordered_at
            and orders.ordered_at <= {{ dbt.dateadd('day', var('attribution_days'), 'keyed.sent_at') }}
    group by keyed.send_id

),

final as (

    select
        keyed.send_id,
        keyed.campaign_id,
        keyed.customer_id,
        keyed.crm_customer_id,
        keyed.is_control,
        keyed.sent_at,
        keyed.opened_at,
        keyed.clicked_at,
        keyed.unsubscribed_at,
        keyed.opened_at is not null as is_opened,
        keyed.clicked_at is not null as is_clicked,
        keyed.unsubscribed_at is not null as is_unsubscribed,
        coalesce(conversions.conversion_orders, 0) > 0 as has_converted,
        cast(coalesce(conversions.conversion_orders, 0) as bigint) as conversion_orders,
        cast(coalesce(conversions.conversion_revenue, 0) as double) as conversion_revenue,
        cast(coalesce(conversions.conversion_gross_margin, 0) as double) as conversion_gross_margin
    from keyed
    left join conversions on keyed.send_id = conversions.send_id

)

select * from final
