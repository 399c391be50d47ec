-- Event counts per session: the funnel steps each session reached.
with

events as (

    select
        session_id,
        event_type,
        product_id
    from {{ ref('stg_web__events') }}

),

aggregated as (

    select
        session_id,
        count(*) as events,
        sum(case when event_type = 'page_view' then 1 else 0 end) as page_views,
        sum(case when event_type = 'product_view' then 1 else 0 end) as product_views,
        sum(case when event_type = 'search' then 1 else 0 end) as searches,
        sum(case when event_type = 'add_to_cart' then 1 else 0 end) as cart_adds,
        sum(case when event_type = 'add_to_wishlist' then 1 else 0 end) as wishlist_adds,
        sum(case when event_type = 'checkout_start' then 1 else 0 end) as checkout_starts,
        sum(case when event_type = 'purchase' then 1 else 0 end) as purchases,
        sum(case when event_type = 'login' then 1 else 0 end) as logins
    from events
    group by session_id

)

select * from aggregated
