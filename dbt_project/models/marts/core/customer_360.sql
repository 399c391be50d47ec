-- One row per unified customer: identity, purchasing, web, service, marketing, RFM and model predictions.
with

customers as (

    select * from {{ ref('dim_customers') }}

),

orders as (

    select * from {{ ref('fct_orders') }}

),

as_of as (

    select {{ as_of_timestamp(ref('fct_orders')) }} as as_of_at

),

purchasing as (

    select
        customer_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        count(*) as orders,
        sum(items) as items,
        sum(gross_sales) as gross_sales,
        sum(discount_amount) as discount_amount,
        sum(revenue) as revenue,
        sum(gross_margin) as gross_margin,
        sum(refund_amount) as refund_amount,
        sum(net_revenue) as net_revenue,
        sum(returned_items) as returned_items
    from orders
    group by customer_id

),

-- The favourite category (most revenue) is defined once, in product__customer_categories.
favourite_categories as (

    select
        customer_id,
        category
    from {{ ref('product__customer_categories') }}
    where category_rank = 1

),

channel_counts as (

    {{ most_frequent('orders', 'sales_channel', 'sales_channel') }}

),

device_counts as (

    {{ most_frequent('orders', 'device', 'device', where='device is not null') }}

),

-- When a customer usually orders: the most frequent ISO weekday (1 = Monday) and hour of their orders, in
-- UTC (orders carry no time zone of their own); ties go to the earlier day or hour.
weekday_counts as (

    {{ most_frequent('orders', iso_weekday('ordered_at'), 'order_weekday') }}

),

hour_counts as (

    {{ most_frequent('orders', 'extract(hour from ordered_at)', 'order_hour') }}

),

web as (

    select
        customer_id,
        count(*) as sessions,
        max(started_at) as last_visit_at,
        sum(product_views) as product_views,
        sum(searches) as searches,
        sum(case when has_cart_add then 1 else 0 end) as cart_sessions,
        sum(case when is_cart_abandoned then 1 else 0 end) as abandoned_carts
    from {{ ref('fct_sessions') }}
    where customer_id is not null
    group by customer_id

),

wishlists as (

    select
        customer_id,
        count(distinct product_id) as wishlist_items
    from {{ ref('fct_web_events') }}
    where event_type = 'add_to_wishlist' and customer_id is not null and product_id is not null
    group by customer_id

),

service as (

    select
        customer_id,
        count(*) as tickets,
        sum(case when is_open then 1 else 0 end) as open_tickets,
        avg(resolution_hours) as mean_resolution_hours,
        avg(satisfaction_score) as mean_satisfaction
    from {{ ref('fct_support_tickets') }}
    group by customer_id

),

-- The customer's own voice: reviews of their surviving orders (Olist exports them; other shops may not).
reviews as (

    select
        customer_id,
        count(*) as reviews,
        avg(score) as mean_review_score
    from {{ ref('fct_reviews') }}
    group by customer_id

),

-- The channel a customer reaches out on most: inbound contacts and tickets together.
inbound_channels as (

    select
        customer_keys.customer_id,
        contacts.channel
    from {{ ref('stg_crm__contacts') }} as contacts
    inner join {{ ref('int_identity__customer_keys') }} as customer_keys
        on customer_keys.node_key = 'crm:' || contacts.crm_customer_id
    where contacts.direction = 'inbound'

    union all

    select
        customer_id,
        channel
    from {{ ref('fct_support_tickets') }}

),

contact_channel_counts as (

    {{ most_frequent('inbound_channels', 'channel', 'channel') }}

),

marketing as (

    select
        customer_id,
        count(distinct campaign_id) as campaigns_received,
        avg(case when is_opened then 1 else 0 end) as open_rate,
        avg(case when is_clicked then 1 else 0 end) as click_rate,
        max(coalesce(clicked_at, opened_at)) as last_response_at
    from {{ ref('fct_campaign_sends') }}
    where not is_control
    group by customer_id

),

-- RFM quintiles among buyers (macros/rfm.sql, shared with profiling__segment_movement).
rfm_base as (

    select
        purchasing.customer_id,
        purchasing.orders,
        purchasing.revenue,
        cast({{ dbt.datediff('purchasing.last_order_at', 'as_of.as_of_at', 'day') }} as bigint) as recency_days
    from purchasing
    cross join as_of

),

rfm_scored as (

    select
        customer_id,
        recency_days,
        orders,
        {{ rfm_scores('recency_days', 'orders', 'revenue') }}
    from rfm_base

),

rfm as (

    select
        rfm_scored.*,
        {{ rfm_fm_score('rfm_scored.frequency_score', 'rfm_scored.monetary_score') }} as fm_score
    from rfm_scored

),

-- One prediction per customer: each run replaces ml.customer_predictions (replace_table); the row_number
-- only guards against a table a user filled by hand with several runs.
predictions as (

    select *
    from (
        select
            *,
            row_number() over (partition by customer_id order by predicted_at desc) as n
        from {{ ref('stg_ml__customer_predictions') }}
    ) as runs
    where n = 1

),

recommendations as (

    select
        recommendations.customer_id,
        {{ ordered_string_agg('recommendations.product_id', "', '", 'recommendations.recommendation_rank') }}
            as recommended_product_ids,
        {{ ordered_string_agg('coalesce(products.product_name, recommendations.product_id)', "', '",
                                'recommendations.recommendation_rank') }} as recommended_products
    from {{ ref('stg_ml__recommendations') }} as recommendations
    left join {{ ref('dim_products') }} as products on recommendations.product_id = products.product_id
    where recommendations.recommendation_rank <= {{ var('recommendations_in_360') }}
    group by recommendations.customer_id

),

joined as (

    select
        customers.*,
        purchasing.first_order_at,
        purchasing.last_order_at,
        coalesce(purchasing.orders, 0) as orders,
        coalesce(purchasing.items, 0) as items,
        coalesce(purchasing.revenue, 0) as revenue,
        coalesce(purchasing.gross_margin, 0) as gross_margin,
        coalesce(purchasing.refund_amount, 0) as refund_amount,
        coalesce(purchasing.net_revenue, 0) as net_revenue,
        purchasing.revenue / nullif(purchasing.orders, 0) as average_order_value,
        purchasing.discount_amount / nullif(purchasing.gross_sales, 0) as discount_share,
        cast(purchasing.returned_items as double) / nullif(purchasing.items, 0) as return_rate,
        favourite_categories.category as favourite_category,
        channel_counts.sales_channel as preferred_sales_channel,
        device_counts.device as preferred_device,
        weekday_counts.order_weekday as preferred_order_weekday,
        hour_counts.order_hour as preferred_order_hour,
        coalesce(web.sessions, 0) as sessions,
        web.last_visit_at,
        coalesce(web.product_views, 0) as product_views,
        coalesce(web.searches, 0) as searches,
        coalesce(web.abandoned_carts, 0) as abandoned_carts,
        cast(web.abandoned_carts as double) / nullif(web.cart_sessions, 0) as cart_abandonment_rate,
        coalesce(wishlists.wishlist_items, 0) as wishlist_items,
        coalesce(service.tickets, 0) as tickets,
        coalesce(service.open_tickets, 0) as open_tickets,
        service.mean_resolution_hours,
        service.mean_satisfaction,
        coalesce(reviews.reviews, 0) as reviews,
        reviews.mean_review_score,
        contact_channel_counts.channel as preferred_contact_channel,
        coalesce(marketing.campaigns_received, 0) as campaigns_received,
        marketing.open_rate,
        marketing.click_rate,
        marketing.last_response_at,
        rfm.recency_days,
        rfm.recency_score,
        rfm.frequency_score,
        rfm.monetary_score,
        case
            when rfm.customer_id is null then 'prospect'
            else {{ rfm_segment('rfm.recency_score', 'rfm.fm_score', 'rfm.orders') }}
        end as rfm_segment,
        predictions.probability_alive,
        predictions.churn_risk,
        predictions.churn_band,
        predictions.churn_model,
        predictions.expected_purchases_90d,
        predictions.expected_purchases_90d_low,
        predictions.expected_purchases_90d_high,
        predictions.expected_order_value,
        predictions.clv_12m,
        predictions.clv_12m_low,
        predictions.clv_12m_high,
        predictions.clv_3m,
        predictions.clv_36m,
        predictions.clv_annual_discount_rate,
        predictions.churn_risk_relative,
        predictions.clv_margin_12m,
        predictions.expected_next_order_date,
        predictions.predicted_at,
        recommendations.recommended_product_ids,
        recommendations.recommended_products,
        as_of.as_of_at
    from customers
    cross join as_of
    left join purchasing on customers.customer_id = purchasing.customer_id
    left join
        favourite_categories
        on customers.customer_id = favourite_categories.customer_id
    left join channel_counts on customers.customer_id = channel_counts.customer_id and channel_counts.n = 1
    left join device_counts on customers.customer_id = device_counts.customer_id and device_counts.n = 1
    left join weekday_counts on customers.customer_id = weekday_counts.customer_id and weekday_counts.n = 1
    left join hour_counts on customers.customer_id = hour_counts.customer_id and hour_counts.n = 1
    left join web on customers.customer_id = web.customer_id
    left join wishlists on customers.customer_id = wishlists.customer_id
    left join service on customers.customer_id = service.customer_id
    left join reviews on customers.customer_id = reviews.customer_id
    left join contact_channel_counts
        on customers.customer_id = contact_channel_counts.customer_id and contact_channel_counts.n = 1
    left join marketing on customers.customer_id = marketing.customer_id
    left join rfm on customers.customer_id = rfm.customer_id
    left join predictions on customers.customer_id = predictions.customer_id
    left join recommendations on customers.customer_id = recommendations.customer_id

),

final as (

    select
        customer_id,
        is_identified,
        orders > 0 as is_buyer,
        primary_crm_customer_id,
        primary_shop_customer_id,
        crm_records,
        shop_accounts,
        guest_emails,
        browsers,
        first_name,
        last_name,
        email,
        phone_e164,
        country,
        region,
        city,
        signed_up_at,
        acquisition_channel,
        email_opt_in,
        sms_opt_in,
        is_unsubscribed,
        first_order_at,
        last_order_at,
        cast(orders as bigint) as orders,
        cast(items as bigint) as items,
        cast(revenue as double) as revenue,
        cast(gross_margin as double) as gross_margin,
        cast(refund_amount as double) as refund_amount,
        cast(net_revenue as double) as net_revenue,
        cast(average_order_value as double) as average_order_value,
        cast(discount_share as double) as discount_share,
        cast(return_rate as double) as return_rate,
        favourite_category,
        preferred_sales_channel,
        preferred_device,
        cast(preferred_order_weekday as integer) as preferred_order_weekday,
        cast(preferred_order_hour as integer) as preferred_order_hour,
        cast(sessions as bigint) as sessions,
        last_visit_at,
        cast(product_views as bigint) as product_views,
        cast(searches as bigint) as searches,
        cast(abandoned_carts as bigint) as abandoned_carts,
        cast(cart_abandonment_rate as double) as cart_abandonment_rate,
        cast(wishlist_items as bigint) as wishlist_items,
        cast(tickets as bigint) as tickets,
        cast(open_tickets as bigint) as open_tickets,
        cast(mean_resolution_hours as double) as mean_resolution_hours,
        cast(mean_satisfaction as double) as mean_satisfaction,
        cast(reviews as bigint) as reviews,
        cast(mean_review_score as double) as mean_review_score,
        preferred_contact_channel,
        cast(campaigns_received as bigint) as campaigns_received,
        cast(open_rate as double) as open_rate,
        cast(click_rate as double) as click_rate,
        last_response_at,
        cast(recency_days as bigint) as recency_days,
        cast(recency_score as integer) as recency_score,
        cast(frequency_score as integer) as frequency_score,
        cast(monetary_score as integer) as monetary_score,
        rfm_segment,
        cast(probability_alive as double) as probability_alive,
        cast(churn_risk as double) as churn_risk,
        churn_band,
        churn_model,
        cast(expected_purchases_90d as double) as expected_purchases_90d,
        cast(expected_purchases_90d_low as double) as expected_purchases_90d_low,
        cast(expected_purchases_90d_high as double) as expected_purchases_90d_high,
        cast(expected_order_value as double) as expected_order_value,
        cast(clv_12m as double) as clv_12m,
        cast(clv_12m_low as double) as clv_12m_low,
        cast(clv_12m_high as double) as clv_12m_high,
        cast(clv_3m as double) as clv_3m,
        cast(clv_36m as double) as clv_36m,
        cast(clv_annual_discount_rate as double) as clv_annual_discount_rate,
        cast(churn_risk_relative as double) as churn_risk_relative,
        cast(clv_margin_12m as double) as clv_margin_12m,
        expected_next_order_date,
        predicted_at,
        recommended_product_ids,
        recommended_products,
        as_of_at
    from joined

)

select * from final
