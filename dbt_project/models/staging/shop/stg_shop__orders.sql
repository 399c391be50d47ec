with

source as (

    select * from {{ source('raw', 'shop__orders') }}

),

renamed as (

    select
        order_id,
        nullif(trim(shop_customer_id), '') as shop_customer_id,
        {{ normalise_email('email') }} as email,
        {{ to_utc('ordered_at') }} as ordered_at,
        currency,
        sales_channel,
        device,
        country,
        {{ normalise_name('region') }} as region,
        {{ normalise_name('city') }} as city,
        -- Codes are typed by customers: compared case-insensitively with the promotions table.
        nullif(upper(trim(promotion_code)), '') as promotion_code,
        discount_amount,
        shipping_amount,
        _source_file

    from source

)

select * from renamed
