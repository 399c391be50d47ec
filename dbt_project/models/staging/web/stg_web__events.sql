with

source as (

    select * from {{ source('raw', 'web__events') }}

),

renamed as (

    select
        event_id,
        session_id,
        anonymous_id,
        nullif(trim(user_id), '') as user_id,
        event_type,
        {{ to_utc('event_at') }} as event_at,
        nullif(trim(product_id), '') as product_id,
        nullif(lower(trim(search_query)), '') as search_query,
        nullif(trim(order_id), '') as order_id,
        _source_file

    from source

)

select * from renamed
