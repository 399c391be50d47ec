with

source as (

    select * from {{ source('raw', 'shop__reviews') }}

),

renamed as (

    select
        review_id,
        order_id,
        cast(score as integer) as score,
        nullif(trim(title), '') as title,
        nullif(trim(comment), '') as comment,
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('answered_at') }} as answered_at,
        _source_file

    from source

)

select * from renamed
