-- One row per shop account: the latest version of each account, normalised like the CRM.
with

source as (

    select * from {{ source('raw', 'shop__customers') }}

),

-- E.164 of every (phone, country) pair loaded, computed by the loader with libphonenumber's plans for
-- every country; the record's own country is the key (null: read with the default country).
phone_numbers as (

    select * from {{ source('ops', 'phone_numbers') }}

),

versions as (

    select
        *,
        {{ version_rank('shop_customer_id', 'updated_at') }} as version_rank
    from source

),

latest as (

    select * from versions
    where version_rank = 1

),

with_phones as (

    select
        latest.*,
        phone_numbers.phone_e164
    from latest
    left join phone_numbers
        on
            latest.phone = phone_numbers.phone
            and latest.country is not distinct from phone_numbers.country

),

renamed as (

    select
        shop_customer_id,
        {{ normalise_email('email') }} as email,
        phone_e164,
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

    from with_phones

)

select * from renamed
