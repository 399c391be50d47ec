-- Product: what each customer looked at, wish-listed or put in a cart, per product, and whether they bought it.
-- A history, so that the figures can be read as of any moment: one row per customer, product and moment at
-- which the pair's figures change (a view, wish-list add or cart add of the product by the customer, or an
-- order of it after the first of those). Each row holds the running figures up to and including that moment
-- and is valid from `valid_from` until just before `valid_to` (the next change; none for the current row).
-- The row valid at a time t is the one with valid_from <= t < valid_to: the recommendations read the current
-- rows, their evaluation reads the rows valid at its cutoff, so nothing after the cutoff is seen.
with

events as (

    select
        customer_id,
        product_id,
        event_at,
        count(*) filter (where event_type = 'product_view') as views,
        count(*) filter (where event_type = 'add_to_wishlist') as wishlist_adds,
        count(*) filter (where event_type = 'add_to_cart') as cart_adds
    from {{ ref('fct_web_events') }}
    where
        event_type in ('product_view', 'add_to_wishlist', 'add_to_cart')
        and product_id is not null
        and event_at is not null
    group by customer_id, product_id, event_at

),

pairs as (

    select
        customer_id,
        product_id,
        min(event_at) as first_interest_at
    from events
    group by customer_id, product_id

),

-- Orders of a product by a customer who showed interest in it, also those before the first interest (they
-- count towards last_bought_at and orders_with_product).
purchases as (

    select
        lines.customer_id,
        lines.product_id,
        lines.ordered_at as event_at,
        count(distinct lines.order_id) as orders
    from {{ ref('fct_order_lines') }} as lines
    inner join pairs
        on lines.customer_id = pairs.customer_id and lines.product_id = pairs.product_id
    where lines.ordered_at is not null
    group by lines.customer_id, lines.product_id, lines.ordered_at

),

changes as (

    select
        coalesce(events.customer_id, purchases.customer_id) as customer_id,
        coalesce(events.product_id, purchases.product_id) as product_id,
        coalesce(events.event_at, purchases.event_at) as event_at,
        coalesce(events.views, 0) as views,
        coalesce(events.wishlist_adds, 0) as wishlist_adds,
        coalesce(events.cart_adds, 0) as cart_adds,
        coalesce(purchases.orders, 0) as orders
    from events
    full outer join purchases
        on
            events.customer_id = purchases.customer_id
            and events.product_id = purchases.product_id
            and events.event_at = purchases.event_at

),

running as (

    select
        customer_id,
        product_id,
        event_at as valid_from,
        lead(event_at) over (partition by customer_id, product_id order by event_at) as valid_to,
        sum(views) over running_total as views,
        max(case when views > 0 then event_at end) over running_total as last_viewed_at,
        sum(wishlist_adds) over running_total as wishlist_adds,
        max(case when wishlist_adds > 0 then event_at end) over running_total as last_wishlisted_at,
        sum(cart_adds) over running_total as cart_adds,
        max(case when cart_adds > 0 then event_at end) over running_total as last_carted_at,
        max(case when views + wishlist_adds + cart_adds > 0 then event_at end) over running_total
            as last_interest_at,
        sum(orders) over running_total as orders_with_product,
        max(case when orders > 0 then event_at end) over running_total as last_bought_at
    from changes
    window running_total as (
        partition by customer_id, product_id order by event_at rows between unbounded preceding and current row
    )

),

final as (

    select
        running.customer_id,
        running.product_id,
        cast(running.valid_from as timestamp) as valid_from,
        cast(running.valid_to as timestamp) as valid_to,
        running.valid_to is null as is_current,
        cast(running.views as bigint) as views,
        cast(running.last_viewed_at as timestamp) as last_viewed_at,
        cast(running.wishlist_adds as bigint) as wishlist_adds,
        cast(running.last_wishlisted_at as timestamp) as last_wishlisted_at,
        cast(running.cart_adds as bigint) as cart_adds,
        cast(running.last_carted_at as timestamp) as last_carted_at,
        cast(pairs.first_interest_at as timestamp) as first_interest_at,
        cast(running.last_interest_at as timestamp) as last_interest_at,
        cast(running.orders_with_product as bigint) as orders_with_product,
        cast(running.last_bought_at as timestamp) as last_bought_at,
        coalesce(running.last_bought_at >= running.last_interest_at, false) as bought_after_interest,
        running.orders_with_product = 0 as looked_not_bought
    from running
    inner join pairs
        on running.customer_id = pairs.customer_id and running.product_id = pairs.product_id
    -- Purchases before the first interest only feed the running figures; the history starts with the interest.
    where running.valid_from >= pairs.first_interest_at

)

select * from final
