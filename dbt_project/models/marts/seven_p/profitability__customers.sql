-- Profitability: what each identified customer earned the shop after refunds, service and marketing.
--   net_profit = net_margin - service_cost - marketing_cost
--   (net_margin = gross_margin - refund_amount + returned_cost, defined per order in fct_orders)
-- Returned units go back to stock, so their cost is recovered (returned_cost); a ticket costs
-- `service_cost_per_ticket`; a campaign's cost is shared equally among its treated sends. Shipping is a
-- pass-through and left out. See DECISIONLOG.md ("What margin includes").
with

customers as (

    select customer_id from {{ ref('dim_customers') }}
    where is_identified

),

orders as (

    select
        customer_id,
        count(*) as orders,
        sum(revenue) as revenue,
        sum(cost) as cost,
        sum(gross_margin) as gross_margin,
        sum(refund_amount) as refund_amount,
        sum(returned_cost) as returned_cost,
        sum(net_margin) as net_margin
    from {{ ref('fct_orders') }}
    group by customer_id

),

service as (

    select
        customer_id,
        count(*) as tickets
    from {{ ref('fct_support_tickets') }}
    group by customer_id

),

campaign_cost_per_send as (

    select
        campaigns.campaign_id,
        campaigns.cost / count(sends.send_id) as cost_per_send
    from {{ ref('stg_marketing__campaigns') }} as campaigns
    inner join {{ ref('fct_campaign_sends') }} as sends
        on campaigns.campaign_id = sends.campaign_id and not sends.is_control
    group by campaigns.campaign_id, campaigns.cost

),

marketing as (

    select
        sends.customer_id,
        sum(campaign_cost_per_send.cost_per_send) as marketing_cost
    from {{ ref('fct_campaign_sends') }} as sends
    inner join campaign_cost_per_send on sends.campaign_id = campaign_cost_per_send.campaign_id
    where not sends.is_control
    group by sends.customer_id

),

joined as (

    select
        customers.customer_id,
        coalesce(orders.orders, 0) as orders,
        coalesce(orders.revenue, 0) as revenue,
        coalesce(orders.cost, 0) as cost,
        coalesce(orders.gross_margin, 0) as gross_margin,
        coalesce(orders.refund_amount, 0) as refund_amount,
        coalesce(orders.returned_cost, 0) as returned_cost,
        coalesce(orders.net_margin, 0) as net_margin,
        coalesce(service.tickets, 0) as tickets,
        coalesce(service.tickets, 0) * {{ var('service_cost_per_ticket') }} as service_cost,
        coalesce(marketing.marketing_cost, 0) as marketing_cost
    from customers
    left join orders on customers.customer_id = orders.customer_id
    left join service on customers.customer_id = service.customer_id
    left join marketing on customers.customer_id = marketing.customer_id

),

final as (

    select
        customer_id,
        cast(orders as bigint) as orders,
        cast(revenue as double) as revenue,
        cast(cost as double) as cost,
        cast(gross_margin as double) as gross_margin,
        cast(refund_amount as double) as refund_amount,
        cast(returned_cost as double) as returned_cost,
        cast(tickets as bigint) as tickets,
        cast(service_cost as double) as service_cost,
        cast(marketing_cost as double) as marketing_cost,
        cast(net_margin - service_cost - marketing_cost as double) as net_profit,
        cast((net_margin - service_cost - marketing_cost) / nullif(revenue, 0) as double) as net_profit_rate,
        cast(ntile(10) over (
            order by net_margin - service_cost - marketing_cost desc, customer_id
        ) as integer) as profit_decile
    from joined

)

select * from final
