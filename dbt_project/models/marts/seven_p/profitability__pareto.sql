-- Profitability: where the profit comes from. Customers ranked by net profit (profitability__customers),
-- highest first, in 100 equal groups: percentile 1 is the most profitable 1 % of customers. The cumulative
-- share answers "how much of the profit do the top 10 % / 20 % make", and the loss columns show what the
-- loss-making tail costs. The cumulative share can exceed 1 before the tail: the tail's losses bring it
-- back to 1 at percentile 100.
with

customers as (

    select
        customer_id,
        net_profit
    from {{ ref('profitability__customers') }}

),

ranked as (

    select
        customer_id,
        net_profit,
        ntile(100) over (order by net_profit desc, customer_id asc) as percentile
    from customers

),

percentiles as (

    select
        percentile,
        count(*) as customers,
        sum(net_profit) as net_profit,
        sum(case when net_profit < 0 then 1 else 0 end) as loss_making_customers,
        sum(case when net_profit < 0 then net_profit else 0 end) as loss
    from ranked
    group by percentile

),

totals as (

    select
        sum(net_profit) as total_net_profit,
        count(*) as total_customers
    from customers

),

final as (

    select
        cast(percentiles.percentile as integer) as percentile,
        cast(percentiles.customers as bigint) as customers,
        cast(percentiles.net_profit as double) as net_profit,
        cast(
            sum(percentiles.customers) over (order by percentiles.percentile) / totals.total_customers as double
        ) as cumulative_share_of_customers,
        cast(sum(percentiles.net_profit) over (order by percentiles.percentile) as double)
            as cumulative_net_profit,
        cast(
            sum(percentiles.net_profit) over (order by percentiles.percentile)
            / nullif(totals.total_net_profit, 0) as double
        ) as cumulative_share_of_profit,
        cast(percentiles.loss_making_customers as bigint) as loss_making_customers,
        cast(percentiles.loss as double) as loss
    from percentiles
    cross join totals

)

select * from final
