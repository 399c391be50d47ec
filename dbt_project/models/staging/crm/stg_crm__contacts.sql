with

source as (

    select * from {{ source('raw', 'crm__contacts') }}

),

renamed as (

    select
        contact_id,
        crm_customer_id,
        channel,
        direction,
        {{ to_utc('contacted_at') }} as contacted_at,
        nullif(trim(topic), '') as topic,
        _source_file

    from source

)

select * from renamed
