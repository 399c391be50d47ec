-- One row per shop account: the latest version of each account, normalised like the CRM.
with

source as (

    select * from {{ source('raw', 'shop__customers') }}

),

versions as (

    select
        *,
        {{ version_rank('shop_customer_id', 'updated_at') }} as version_rank
    from source

),

latest as (

    select
        *,
        {{ phone_parts('phone', 'country') }}
    from versions
    where version_rank = 1

),

renamed as (

    select
        shop_customer_id,
        {{ normalise_email('email') }} as email,
        {{ phone_to_e164() }} as phone_e164,
        nullif(trim(phone), '') as phone_as_entered,
        {{ normalise_name('first_name') }} as first_name,
        {{ normalise_name('last_name') }} as last_name,
        country,
        {{ normalise_name('region') }} as region,
        {{ normalise_name('city') }} as city,
        acquisition_channel,
        accepts_marketing,
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('updated_at') }} as updated_at,
        _source_file

    from latest

)

select * from renamed
