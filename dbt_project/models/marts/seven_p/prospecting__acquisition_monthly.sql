-- Prospecting: per month and marketing channel, the new customers won (first order in the month) and the
-- web funnel of the month's sessions (sessions -> product view -> cart -> checkout -> purchase).
-- A new customer's channel is the acquisition channel of their shop account, else the traffic channel of
-- the session in which they placed their first order, else 'unknown'.
with

first_orders as (

    select
        customer_id,
        order_id,
        ordered_at,
        revenue
    from {{ ref('fct_orders') }}
    where is_first_order

),

customers as (

    select
        customer_id,
        acquisition_channel
    from {{ ref('dim_customers') }}

),

sessions as (

    select * from {{ ref('fct_sessions') }}

),

purchase_sessions as (

    select
        events.order_id,
        min(sessions.traffic_channel) as traffic_channel
    from {{ ref('fct_web_events') }} as events
    inner join sessions on events.session_id = sessions.session_id
    where events.event_type = 'purchase' and events.order_id is not null
    group by events.order_id

),

new_customers as (

    select
        {{ dbt.date_trunc('month', 'first_orders.ordered_at') }} as month,
        coalesce(customers.acquisition_channel, purchase_sessions.traffic_channel, 'unknown') as channel,
        count(*) as new_customers,
        sum(first_orders.revenue) as first_order_revenue
    from first_orders
    left join customers on first_orders.customer_id = customers.customer_id
    left join purchase_sessions on first_orders.order_id = purchase_sessions.order_id
    group by
        {{ dbt.date_trunc('month', 'first_orders.ordered_at') }},
        coalesce(customers.acquisition_channel, purchase_sessions.traffic_channel, 'unknown')

),

funnel as (

    select
        {{ dbt.date_trunc('month', 'started_at') }} as month,
        traffic_channel as channel,
        count(*) as sessions,
        sum(case when has_product_view then 1 else 0 end) as product_view_sessions,
        sum(case when has_cart_add then 1 else 0 end) as cart_sessions,
        sum(case when has_checkout_start then 1 else 0 end) as checkout_sessions,
        sum(case when has_purchase then 1 else 0 end) as purchase_sessions
    from sessions
    group by {{ dbt.date_trunc('month', 'started_at') }}, traffic_channel

),

spine as (

    select
        month,
        channel
    from new_customers
    union
    select
        month,
        channel
    from funnel

),

final as (

    select
        cast(spine.month as date) as month,
        spine.channel,
        cast(coalesce(new_customers.new_customers, 0) as bigint) as new_customers,
        cast(coalesce(new_customers.first_order_revenue, 0) as double) as first_order_revenue,
        cast(coalesce(funnel.sessions, 0) as bigint) as sessions,
        cast(coalesce(funnel.product_view_sessions, 0) as bigint) as product_view_sessions,
        cast(coalesce(funnel.cart_sessions, 0) as bigint) as cart_sessions,
        cast(coalesce(funnel.checkout_sessions, 0) as bigint) as checkout_sessions,
        cast(coalesce(funnel.purchase_sessions, 0) as bigint) as purchase_sessions,
        cast(cast(funnel.product_view_sessions as double) / nullif(funnel.sessions, 0) as double) as product_view_rate,
        cast(cast(funnel.cart_sessions as double) / nullif(funnel.product_view_sessions, 0) as double)
            as view_to_cart_rate,
        cast(cast(funnel.checkout_sessions as double) / nullif(funnel.cart_sessions, 0) as double)
            as cart_to_checkout_rate,
        cast(cast(funnel.purchase_sessions as double) / nullif(funnel.checkout_sessions, 0) as double)
            as checkout_to_purchase_rate,
        cast(cast(funnel.purchase_sessions as double) / nullif(funnel.sessions, 0) as double) as session_conversion_rate
    from spine
    left join new_customers on spine.month = new_customers.month and spine.channel = new_customers.channel
    left join funnel on spine.month = funnel.month and spine.channel = funnel.channel

)

select * from final
