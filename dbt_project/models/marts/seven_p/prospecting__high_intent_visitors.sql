-- Prospecting: people showing intent to buy who have not bought since. In the last 30 days of web data,
-- anyone (a resolved customer, else a browser) who added to a cart, added to a wish list, or searched at
-- least twice, and who placed no order after their last such signal. With whether a consented contact
-- exists, so a manager sees at once who can be reached (the audience itself still goes through
-- build_audience, which applies consent).
with

events as (

    select
        customer_id,
        anonymous_id,
        coalesce(customer_id, 'anonymous:' || anonymous_id) as person_id,
        event_type,
        event_at
    from {{ ref('fct_web_events') }}

),

window_end as (

    select max(event_at) as last_event_at from events

),

recent as (

    select events.*
    from events
    cross join window_end
    where events.event_at > {{ dbt.dateadd('day', -30, 'window_end.last_event_at') }}

),

intent as (

    select
        person_id,
        max(customer_id) as customer_id,
        min(anonymous_id) as anonymous_id,
        sum(case when event_type = 'add_to_cart' then 1 else 0 end) as cart_adds,
        sum(case when event_type = 'add_to_wishlist' then 1 else 0 end) as wishlist_adds,
        sum(case when event_type = 'search' then 1 else 0 end) as searches,
        sum(case when event_type = 'product_view' then 1 else 0 end) as product_views,
        max(
            case when event_type in ('add_to_cart', 'add_to_wishlist', 'search') then event_at end
        ) as last_intent_at
    from recent
    group by person_id

),

purchases as (

    -- A purchase by the browser (web event) or by the customer through any channel (an order).
    select
        person_id,
        max(event_at) as last_purchase_at
    from events
    where event_type = 'purchase'
    group by person_id
    union all
    select
        customer_id as person_id,
        max(ordered_at) as last_purchase_at
    from {{ ref('fct_orders') }}
    group by customer_id

),

last_purchases as (

    select
        person_id,
        max(last_purchase_at) as last_purchase_at
    from purchases
    group by person_id

),

contacts as (

    select
        customer_id,
        coalesce(email_opt_in, false) and email is not null as has_email_consent,
        coalesce(sms_opt_in, false) and phone_e164 is not null as has_sms_consent
    from {{ ref('customer_360') }}

),

final as (

    select
        intent.person_id,
        intent.customer_id,
        intent.anonymous_id,
        cast(intent.cart_adds as bigint) as cart_adds,
        cast(intent.wishlist_adds as bigint) as wishlist_adds,
        cast(intent.searches as bigint) as searches,
        cast(intent.product_views as bigint) as product_views,
        intent.last_intent_at,
        coalesce(contacts.has_email_consent, false) as has_email_consent,
        coalesce(contacts.has_sms_consent, false) as has_sms_consent
    from intent
    left join last_purchases on intent.person_id = last_purchases.person_id
    left join contacts on intent.customer_id = contacts.customer_id
    where
        (intent.cart_adds > 0 or intent.wishlist_adds > 0 or intent.searches >= 2)
        and (last_purchases.last_purchase_at is null or last_purchases.last_purchase_at < intent.last_intent_at)

)

select * from final
