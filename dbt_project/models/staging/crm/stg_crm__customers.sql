-- One row per CRM customer: the latest version of each record, names trimmed, e-mail lower-cased,
-- phone in E.164.
with

source as (

    select * from {{ source('raw', 'crm__customers') }}

),

-- E.164 of every (phone, country) pair loaded, computed by the loader with libphonenumber's plans for
-- every country; the record's own country is the key (null: read with the default country).
phone_numbers as (

    select * from {{ source('ops', 'phone_numbers') }}

),

versions as (

    -- The CRM sends repeated exports: the latest change wins, then the latest load, then the file that
    -- sorts last (exports are named by date).
    select
        *,
        {{ version_rank('crm_customer_id', 'updated_at') }} as version_rank
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
        crm_customer_id,
        {{ normalise_name('first_name') }} as first_name,
        {{ normalise_name('last_name') }} as last_name,
        {{ normalise_email('email') }} as email,
        phone_e164,
        nullif(trim(phone), '') as phone_as_entered,
        country,
        {{ normalise_name('region') }} as region,
        {{ normalise_name('city') }} as city,
        {{ to_utc('created_at') }} as created_at,
        {{ to_utc('updated_at') }} as updated_at,
        email_opt_in,
        sms_opt_in,
        _source_file

    from with_phones

)

select * from renamed
