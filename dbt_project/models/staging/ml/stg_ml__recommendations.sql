with

source as (

    select * from {{ source('ml', 'recommendations') }}

),

renamed as (

    select
        customer_id,
        cast(rank as integer) as recommendation_rank,
        product_id,
        score,
        reason,
        source as recommender

    from source

)

select * from renamed
