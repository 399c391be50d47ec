with

source as (

    select * from {{ source('raw', 'crm__tickets') }}

),

renamed as (

    select
        ticket_id,
        crm_customer_id,
        channel,
        category,
        status,
        {{ to_utc('opened_at') }} as opened_at,
        {{ to_utc('resolved_at') }} as resolved_at,
        cast(satisfaction_score as integer) as satisfaction_score,
        _source_file

    from source

)

select * from renamed
