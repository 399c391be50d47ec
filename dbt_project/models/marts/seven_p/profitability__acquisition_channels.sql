-- Profitability: what winning a customer costs per acquisition channel and cohort month, and how fast the
-- customers pay it back. Acquisition cost is the share of each campaign's cost spent on people who had not
-- bought yet when it reached them (its treated sends to non-buyers / all its treated sends), booked to the
-- campaign's channel and start month (DECISIONLOG.md, "Acquisition cost"). A channel without any known
-- campaign cost (organic search, direct, a paid channel whose spend is not loaded) has an unknown cost:
-- acquisition_cost, cac, ltv_to_cac and payback_months are null, never zero.
with

orders as (

    select
        customer_id,
        ordered_at,
        gross_margin
    from {{ ref('fct_orders') }}

),

first_orders as (

    select
        customer_id,
        min(ordered_at) as first_order_at
    from orders
    group by customer_id

),

customers as (

    select
        first_orders.customer_id,
        first_orders.first_order_at,
        {{ dbt.date_trunc('month', 'first_orders.first_order_at') }} as cohort_month,
        coalesce(dim_customers.acquisition_channel, 'unknown') as acquisition_channel
    from first_orders
    left join {{ ref('dim_customers') }} as dim_customers
        on first_orders.customer_id = dim_customers.customer_id

),

data_end as (

    select max(ordered_at) as last_order_at from orders

),

campaigns as (

    select
        campaign_id,
        channel,
        cost,
        {{ dbt.date_trunc('month', 'started_at') }} as campaign_month
    from {{ ref('stg_marketing__campaigns') }}

),

treated_sends as (

    select
        sends.campaign_id,
        count(*) as sends,
        sum(
            case when first_orders.first_order_at is null or first_orders.first_order_at > sends.sent_at then 1 else 0 end
        ) as sends_to_prospects
    from {{ ref('fct_campaign_sends') }} as sends
    left join first_orders on sends.customer_id = first_orders.customer_id
    where not sends.is_control
    group by sends.campaign_id

),

acquisition_costs as (

    select
        campaigns.channel as acquisition_channel,
        campaigns.campaign_month as cohort_month,
        sum(campaigns.cost * treated_sends.sends_to_prospects / treated_sends.sends) as acquisition_cost
    from campaigns
    inner join treated_sends on campaigns.campaign_id = treated_sends.campaign_id
    group by campaigns.channel, campaigns.campaign_month

),

costed_channels as (

    select distinct acquisition_channel from acquisition_costs

),

-- Margin of each cohort customer by whole months since their first order (0 = the first month).
margin_by_month as (

    select
        customers.acquisition_channel,
        customers.cohort_month,
        {{ dbt.datediff('customers.cohort_month', dbt.date_trunc('month', 'orders.ordered_at'), 'month') }}
            as months_since_first_order,
        sum(orders.gross_margin) as gross_margin
    from customers
    inner join orders on customers.customer_id = orders.customer_id
    group by
        customers.acquisition_channel,
        customers.cohort_month,
        {{ dbt.datediff('customers.cohort_month', dbt.date_trunc('month', 'orders.ordered_at'), 'month') }}

),

cohorts as (

    select
        acquisition_channel,
        cohort_month,
        count(*) as new_customers
    from customers
    group by acquisition_channel, cohort_month

),

spine as (

    select
        acquisition_channel,
        cohort_month
    from cohorts
    union
    select
        acquisition_channel,
        cohort_month
    from acquisition_costs

),

costed as (

    select
        spine.acquisition_channel,
        spine.cohort_month,
        coalesce(cohorts.new_customers, 0) as new_customers,
        case
            when costed_channels.acquisition_channel is not null then coalesce(acquisition_costs.acquisition_cost, 0)
        end as acquisition_cost
    from spine
    left join cohorts
        on spine.acquisition_channel = cohorts.acquisition_channel and spine.cohort_month = cohorts.cohort_month
    left join acquisition_costs
        on
            spine.acquisition_channel = acquisition_costs.acquisition_channel
            and spine.cohort_month = acquisition_costs.cohort_month
    left join costed_channels on spine.acquisition_channel = costed_channels.acquisition_channel

),

cumulative as (

    select
        costed.acquisition_channel,
        costed.cohort_month,
        margin_by_month.months_since_first_order,
        sum(margin_by_month.gross_margin) over (
            partition by costed.acquisition_channel, costed.cohort_month
            order by margin_by_month.months_since_first_order
            rows between unbounded preceding and current row
        ) / costed.new_customers as cumulative_margin_per_customer,
        costed.acquisition_cost / nullif(costed.new_customers, 0) as cac
    from costed
    inner join margin_by_month
        on
            costed.acquisition_channel = margin_by_month.acquisition_channel
            and costed.cohort_month = margin_by_month.cohort_month

),

paid_back as (

    select
        acquisition_channel,
        cohort_month,
        min(case when cumulative_margin_per_customer >= cac then months_since_first_order end) as payback_months
    from cumulative
    group by acquisition_channel, cohort_month

),

first_year as (

    select
        acquisition_channel,
        cohort_month,
        sum(case when months_since_first_order < 12 then gross_margin else 0 end) as margin_12m
    from margin_by_month
    group by acquisition_channel, cohort_month

),

final as (

    select
        cast(costed.cohort_month as date) as cohort_month,
        costed.acquisition_channel,
        cast(costed.new_customers as bigint) as new_customers,
        cast(costed.acquisition_cost as double) as acquisition_cost,
        cast(costed.acquisition_cost / nullif(costed.new_customers, 0) as double) as cac,
        cast(first_year.margin_12m / nullif(costed.new_customers, 0) as double) as margin_12m_per_customer,
        {{ dbt.dateadd('month', 12, 'costed.cohort_month') }} <= data_end.last_order_at as is_12m_complete,
        cast(first_year.margin_12m / nullif(costed.acquisition_cost, 0) as double) as ltv_to_cac,
        cast(paid_back.payback_months as bigint) as payback_months
    from costed
    left join paid_back
        on costed.acquisition_channel = paid_back.acquisition_channel and costed.cohort_month = paid_back.cohort_month
    left join first_year
        on
            costed.acquisition_channel = first_year.acquisition_channel
            and costed.cohort_month = first_year.cohort_month
    cross join data_end

)

select * from final
