with

source as (

    select * from {{ source('raw', 'shop__returns') }}

),

renamed as (

    select
        return_id,
        order_id,
        product_id,
        cast(quantity as integer) as quantity,
        refund_amount,
        {{ to_utc('returned_at') }} as returned_at,
        reason,
        _source_file

    from source

)

select * from renamed
