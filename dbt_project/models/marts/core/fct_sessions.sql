-- One row per web session with its customer, traffic channel and the funnel steps it reached.
with

sessions as (

    select * from {{ ref('stg_web__sessions') }}

),

session_events as (

    select * from {{ ref('int_sessions_aggregated_from_events') }}

),

customer_keys as (

    select
        node_key,
        customer_id
    from {{ ref('int_identity__customer_keys') }}

),

joined as (

    select
        sessions.*,
        -- A logged-in session belongs to the account's customer even when its browser is shared.
        coalesce(account.customer_id, browser.customer_id) as customer_id,
        coalesce(session_events.events, 0) as events,
        coalesce(session_events.page_views, 0) as page_views,
        coalesce(session_events.product_views, 0) as product_views,
        coalesce(session_events.searches, 0) as searches,
        coalesce(session_events.cart_adds, 0) as cart_adds,
        coalesce(session_events.wishlist_adds, 0) as wishlist_adds,
        coalesce(session_events.checkout_starts, 0) as checkout_starts,
        coalesce(session_events.purchases, 0) as purchases
    from sessions
    left join session_events on sessions.session_id = session_events.session_id
    left join customer_keys as account on account.node_key = 'shop:' || sessions.user_id
    left join customer_keys as browser on browser.node_key = 'web:' || sessions.anonymous_id

),

final as (

    select
        session_id,
        customer_id,
        anonymous_id,
        user_id as shop_customer_id,
        started_at,
        ended_at,
        cast(started_at as date) as session_date,
        cast({{ dbt.datediff('started_at', 'ended_at', 'second') }} as bigint) as duration_seconds,
        device,
        country,
        utm_source,
        utm_medium,
        utm_campaign,
        {{ traffic_channel('utm_source', 'utm_medium') }} as traffic_channel,
        landing_page,
        cast(events as bigint) as events,
        cast(page_views as bigint) as page_views,
        cast(product_views as bigint) as product_views,
        cast(searches as bigint) as searches,
        cast(cart_adds as bigint) as cart_adds,
        cast(wishlist_adds as bigint) as wishlist_adds,
        cast(checkout_starts as bigint) as checkout_starts,
        cast(purchases as bigint) as purchases,
        user_id is not null as is_logged_in,
        product_views > 0 as has_product_view,
        cart_adds > 0 as has_cart_add,
        checkout_starts > 0 as has_checkout_start,
        purchases > 0 as has_purchase,
        cart_adds > 0 and purchases = 0 as is_cart_abandoned,
        events <= 1 as is_bounce
    from joined

)

select * from final
