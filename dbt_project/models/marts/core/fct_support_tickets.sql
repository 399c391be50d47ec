-- One row per support ticket with its customer and resolution time.
with

tickets as (

    select * from {{ ref('stg_crm__tickets') }}

),

customer_keys as (

    select
        node_key,
        customer_id
    from {{ ref('int_identity__customer_keys') }}

),

final as (

    select
        tickets.ticket_id,
        customer_keys.customer_id,
        tickets.crm_customer_id,
        tickets.channel,
        tickets.category,
        tickets.status,
        tickets.status = 'open' as is_open,
        tickets.opened_at,
        tickets.resolved_at,
        cast(tickets.opened_at as date) as opened_date,
        cast(
            {{ dbt.datediff('tickets.opened_at', 'tickets.resolved_at', 'second') }} / 3600.0 as double
        ) as resolution_hours,
        cast(tickets.satisfaction_score as bigint) as satisfaction_score
    from tickets
    inner join customer_keys on customer_keys.node_key = 'crm:' || tickets.crm_customer_id

)

select * from final
