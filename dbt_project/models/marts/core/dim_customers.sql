-- One row per unified customer with merged identity attributes and consent.
with

profiles as (

    select * from {{ ref('int_customer_profiles_merged') }}

),

final as (

    select
        customer_id,
        is_identified,
        primary_crm_customer_id,
        primary_shop_customer_id,
        cast(crm_records as bigint) as crm_records,
        cast(shop_accounts as bigint) as shop_accounts,
        cast(guest_emails as bigint) as guest_emails,
        cast(browsers as bigint) as browsers,
        first_name,
        last_name,
        email,
        phone_e164,
        country,
        region,
        city,
        signed_up_at,
        acquisition_channel,
        email_opt_in,
        sms_opt_in,
        is_unsubscribed,
        unsubscribed_at
    from profiles

)

select * from final
