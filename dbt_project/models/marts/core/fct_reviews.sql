-- One row per review of a surviving order, given to the customer who placed the order.
with

reviews as (

    select * from {{ ref('stg_shop__reviews') }}

),

orders as (

    select
        order_id,
        customer_id
    from {{ ref('fct_orders') }}

),

final as (

    select
        reviews.review_id,
        reviews.order_id,
        orders.customer_id,
        cast(reviews.score as integer) as score,
        reviews.title,
        reviews.comment,
        reviews.created_at,
        reviews.answered_at,
        reviews.answered_at is not null as is_answered
    from reviews
    inner join orders on reviews.order_id = orders.order_id

)

select * from final
