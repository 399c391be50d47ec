-- One row per unified customer with the attributes of its records merged (survivorship):
--   * name, e-mail, phone and location each come from the most recently updated CRM record or shop
--     account that has them (CRM first on a tie, then the smaller record id), else from the latest guest
--     order (e-mail, location);
--     placeholder e-mails and phones never survive;
--   * e-mail consent is the latest statement among CRM records (email_opt_in) and shop accounts
--     (accepts_marketing); SMS consent is the latest CRM statement; an unsubscribe from a campaign turns
--     the consent of its channel off for good (SMS campaigns: SMS, any other: e-mail);
--   * signed_up_at is the earliest record creation, acquisition_channel that of the earliest shop account.
-- See DECISIONLOG.md for why.
with

customer_keys as (

    select * from {{ ref('int_identity__customer_keys') }}

),

crm_records as (

    select
        customer_keys.customer_id,
        crm.*
    from {{ ref('stg_crm__customers') }} as crm
    inner join customer_keys on customer_keys.node_key = 'crm:' || crm.crm_customer_id

),

shop_accounts as (

    select
        customer_keys.customer_id,
        shop.*
    from {{ ref('stg_shop__customers') }} as shop
    inner join customer_keys on customer_keys.node_key = 'shop:' || shop.shop_customer_id

),

guest_orders as (

    select
        customer_keys.customer_id,
        orders.*
    from {{ ref('stg_shop__orders') }} as orders
    inner join customer_keys on customer_keys.node_key = 'email:' || orders.email
    where orders.shop_customer_id is null

),

-- An unsubscribe from an SMS campaign withdraws SMS consent; from any other campaign, e-mail consent.
unsubscribes as (

    select
        customer_keys.customer_id,
        min(sends.unsubscribed_at) as unsubscribed_at,
        max(case when campaigns.channel = 'sms' then 0 else 1 end) = 1 as has_email_unsubscribe,
        max(case when campaigns.channel = 'sms' then 1 else 0 end) = 1 as has_sms_unsubscribe
    from {{ ref('stg_marketing__sends') }} as sends
    inner join customer_keys on customer_keys.node_key = 'crm:' || sends.crm_customer_id
    left join {{ ref('stg_marketing__campaigns') }} as campaigns on sends.campaign_id = campaigns.campaign_id
    where sends.unsubscribed_at is not null
    group by customer_keys.customer_id

),

-- Every statement about the person, newest first within a customer: priority breaks ties (CRM, shop, guest),
-- then the record's own id, so that the same records give the same survivor on every engine.
statements as (

    select
        customer_id,
        1 as priority,
        crm_customer_id as record_id,
        updated_at as stated_at,
        created_at,
        first_name,
        last_name,
        email,
        phone_e164,
        country,
        region,
        city,
        email_opt_in,
        sms_opt_in,
        cast(null as {{ dbt.type_string() }}) as acquisition_channel
    from crm_records

    union all

    select
        customer_id,
        2 as priority,
        shop_customer_id,
        updated_at,
        created_at,
        first_name,
        last_name,
        email,
        phone_e164,
        country,
        region,
        city,
        accepts_marketing,
        cast(null as boolean),
        acquisition_channel
    from shop_accounts

    union all

    select
        customer_id,
        3 as priority,
        order_id,
        ordered_at,
        cast(null as timestamp),
        cast(null as {{ dbt.type_string() }}),
        cast(null as {{ dbt.type_string() }}),
        email,
        cast(null as {{ dbt.type_string() }}),
        country,
        region,
        city,
        cast(null as boolean),
        cast(null as boolean),
        cast(null as {{ dbt.type_string() }})
    from guest_orders

),

ranked as (

    select
        statements.*,
        {{ is_placeholder_email('email') }} as is_placeholder_email,
        {{ is_placeholder_phone('phone_e164') }} as is_placeholder_phone
    from statements

),

best_name as (

    select
        customer_id,
        first_name,
        last_name
    from (
        select
            *,
            row_number() over (
                partition by customer_id order by stated_at desc, priority asc, record_id asc
            ) as n
        from ranked
        where first_name is not null or last_name is not null
    ) as candidates
    where n = 1

),

best_email as (

    select
        customer_id,
        email
    from (
        select
            *,
            row_number() over (
                partition by customer_id order by stated_at desc, priority asc, record_id asc
            ) as n
        from ranked
        where email is not null and not is_placeholder_email
    ) as candidates
    where n = 1

),

best_phone as (

    select
        customer_id,
        phone_e164
    from (
        select
            *,
            row_number() over (
                partition by customer_id order by stated_at desc, priority asc, record_id asc
            ) as n
        from ranked
        where phone_e164 is not null and not is_placeholder_phone
    ) as candidates
    where n = 1

),

best_location as (

    select
        customer_id,
        country,
        region,
        city
    from (
        select
            *,
            row_number() over (
                partition by customer_id order by stated_at desc, priority asc, record_id asc
            ) as n
        from ranked
        where country is not null
    ) as candidates
    where n = 1

),

email_consent as (

    select
        customer_id,
        email_opt_in
    from (
        select
            *,
            row_number() over (
                partition by customer_id order by stated_at desc, priority asc, record_id asc
            ) as n
        from ranked
        where email_opt_in is not null
    ) as candidates
    where n = 1

),

sms_consent as (

    select
        customer_id,
        sms_opt_in
    from (
        select
            *,
            row_number() over (
                partition by customer_id order by stated_at desc, priority asc, record_id asc
            ) as n
        from ranked
        where sms_opt_in is not null
    ) as candidates
    where n = 1

),

acquisition as (

    select
        customer_id,
        acquisition_channel
    from (
        select
            *,
            row_number() over (partition by customer_id order by created_at, priority, record_id) as n
        from ranked
        where acquisition_channel is not null
    ) as candidates
    where n = 1

),

signup as (

    select
        customer_id,
        min(created_at) as signed_up_at
    from ranked
    group by customer_id

),

record_counts as (

    select
        customer_id,
        sum(case when source = 'crm' then 1 else 0 end) as crm_records,
        sum(case when source = 'shop' then 1 else 0 end) as shop_accounts,
        sum(case when source = 'shop_guest' then 1 else 0 end) as guest_emails,
        sum(case when source = 'web' then 1 else 0 end) as browsers,
        min(case when source = 'crm' then source_id end) as primary_crm_customer_id,
        min(case when source = 'shop' then source_id end) as primary_shop_customer_id
    from customer_keys
    where source is not null
    group by customer_id

),

merged as (

    select
        record_counts.customer_id,
        record_counts.primary_crm_customer_id,
        record_counts.primary_shop_customer_id,
        record_counts.crm_records,
        record_counts.shop_accounts,
        record_counts.guest_emails,
        record_counts.browsers,
        record_counts.crm_records + record_counts.shop_accounts + record_counts.guest_emails > 0
            as is_identified,
        best_name.first_name,
        best_name.last_name,
        best_email.email,
        best_phone.phone_e164,
        best_location.country,
        best_location.region,
        best_location.city,
        signup.signed_up_at,
        acquisition.acquisition_channel,
        coalesce(email_consent.email_opt_in, false)
        and not coalesce(unsubscribes.has_email_unsubscribe, false) as email_opt_in,
        coalesce(sms_consent.sms_opt_in, false)
        and not coalesce(unsubscribes.has_sms_unsubscribe, false) as sms_opt_in,
        unsubscribes.customer_id is not null as is_unsubscribed,
        unsubscribes.unsubscribed_at
    from record_counts
    left join best_name on record_counts.customer_id = best_name.customer_id
    left join best_email on record_counts.customer_id = best_email.customer_id
    left join best_phone on record_counts.customer_id = best_phone.customer_id
    left join best_location on record_counts.customer_id = best_location.customer_id
    left join signup on record_counts.customer_id = signup.customer_id
    left join acquisition on record_counts.customer_id = acquisition.customer_id
    left join email_consent on record_counts.customer_id = email_consent.customer_id
    left join sms_consent on record_counts.customer_id = sms_consent.customer_id
    left join unsubscribes on record_counts.customer_id = unsubscribes.customer_id

)

select * from merged
