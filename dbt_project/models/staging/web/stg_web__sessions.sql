with

source as (

    select * from {{ source('raw', 'web__sessions') }}

),

renamed as (

    select
        session_id,
        anonymous_id,
        nullif(trim(user_id), '') as user_id,
        {{ to_utc('started_at') }} as started_at,
        {{ to_utc('ended_at') }} as ended_at,
        device,
        country,
        nullif(lower(trim(utm_source)), '') as utm_source,
        nullif(lower(trim(utm_medium)), '') as utm_medium,
        nullif(trim(utm_campaign), '') as utm_campaign,
        nullif(trim(landing_page), '') as landing_page,
        _source_file

    from source

)

select * from renamed
