-- customer_360 carries every order, every unit of revenue and every ticket of the fact tables, no more.
with

from_360 as (

    select
        sum(orders) as orders,
        sum(revenue) as revenue,
        sum(tickets) as tickets,
        sum(gross_margin) as gross_margin
    from {{ ref('customer_360') }}

),

from_facts as (

    select
        (select count(*) from {{ ref('fct_orders') }}) as orders,
        (select coalesce(sum(revenue), 0) from {{ ref('fct_orders') }}) as revenue,
        (select count(*) from {{ ref('fct_support_tickets') }}) as tickets,
        (select coalesce(sum(gross_margin), 0) from {{ ref('fct_orders') }}) as gross_margin

)

select
    from_360.*,
    from_facts.*
from from_360
cross join from_facts
where
    from_360.orders <> from_facts.orders
    or abs(from_360.revenue - from_facts.revenue) > 0.01
    or from_360.tickets <> from_facts.tickets
    or abs(from_360.gross_margin - from_facts.gross_margin) > 0.01
