with

source as (

    select * from {{ source('raw', 'marketing__sends') }}

),

renamed as (

    select
        send_id,
        campaign_id,
        crm_customer_id,
        is_control,
        {{ to_utc('sent_at') }} as sent_at,
        {{ to_utc('opened_at') }} as opened_at,
        {{ to_utc('clicked_at') }} as clicked_at,
        {{ to_utc('unsubscribed_at') }} as unsubscribed_at,
        _source_file

    from source

)

select * from renamed
