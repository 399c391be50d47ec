-- One row per source record (CRM id, shop account, guest e-mail, web browser) with its unified customer,
-- in the same (source, source_id) terms as the demo generator's truth/identity.csv.
with

customer_keys as (

    select * from {{ ref('int_identity__customer_keys') }}

),

final as (

    select
        source,
        source_id,
        customer_id,
        matched_on
    from customer_keys
    where source is not null

)

select * from final
