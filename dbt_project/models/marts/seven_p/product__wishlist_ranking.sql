-- Product: the products most wanted, bought or not. Per product, the people who wish-listed it, who put it
-- in a cart in a session that ended without a purchase, who searched for it (a search whose text contains
-- the product's name), who viewed it, and who bought it. want_score counts each person once per signal:
--   want_score = wishlisters + cart abandoners + searchers + 0.1 * viewers
-- (a view is a weak signal; DECISIONLOG.md, "Wish-list ranking"). unmet_want compares it with the buyers.
with

events as (

    select
        session_id,
        coalesce(customer_id, 'anonymous:' || anonymous_id) as person_id,
        event_type,
        product_id,
        lower(trim(search_query)) as search_query
    from {{ ref('fct_web_events') }}

),

products as (

    select
        product_id,
        product_name,
        category,
        lower(trim(product_name)) as name_key
    from {{ ref('dim_products') }}

),

purchase_sessions as (

    select distinct session_id from events
    where event_type = 'purchase'

),

signals as (

    select
        events.product_id,
        count(distinct case when events.event_type = 'add_to_wishlist' then events.person_id end) as wishlisters,
        count(distinct case when events.event_type = 'product_view' then events.person_id end) as viewers,
        count(
            distinct
            case
                when events.event_type = 'add_to_cart' and purchase_sessions.session_id is null
                    then events.person_id
            end
        ) as cart_abandoners
    from events
    left join purchase_sessions on events.session_id = purchase_sessions.session_id
    where events.product_id is not null
    group by events.product_id

),

-- Distinct queries first: far fewer than searches, so the text match against every product stays cheap.
queries as (

    select
        search_query,
        person_id
    from events
    where event_type = 'search' and search_query is not null
    group by search_query, person_id

),

searches as (

    select
        products.product_id,
        count(distinct queries.person_id) as searchers
    from queries
    inner join products
        on length(products.name_key) >= 3 and contains(queries.search_query, products.name_key)
    group by products.product_id

),

buyers as (

    select
        product_id,
        count(distinct customer_id) as buyers,
        sum(quantity) as units_bought
    from {{ ref('fct_order_lines') }}
    group by product_id

),

scored as (

    select
        products.product_id,
        products.product_name,
        products.category,
        coalesce(signals.wishlisters, 0) as wishlisters,
        coalesce(signals.cart_abandoners, 0) as cart_abandoners,
        coalesce(searches.searchers, 0) as searchers,
        coalesce(signals.viewers, 0) as viewers,
        coalesce(buyers.buyers, 0) as buyers,
        coalesce(buyers.units_bought, 0) as units_bought,
        coalesce(signals.wishlisters, 0) + coalesce(signals.cart_abandoners, 0) + coalesce(searches.searchers, 0)
        + 0.1 * coalesce(signals.viewers, 0) as want_score
    from products
    left join signals on products.product_id = signals.product_id
    left join searches on products.product_id = searches.product_id
    left join buyers on products.product_id = buyers.product_id

),

final as (

    select
        product_id,
        product_name,
        category,
        cast(wishlisters as bigint) as wishlisters,
        cast(cart_abandoners as bigint) as cart_abandoners,
        cast(searchers as bigint) as searchers,
        cast(viewers as bigint) as viewers,
        cast(buyers as bigint) as buyers,
        cast(units_bought as bigint) as units_bought,
        cast(want_score as double) as want_score,
        cast(row_number() over (order by want_score desc, product_id asc) as bigint) as want_rank,
        cast(want_score / (buyers + 1) as double) as unmet_want
    from scored

)

select * from final
