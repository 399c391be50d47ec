-- Prospecting: the next three months. Per month after the last order loaded, the expected new customers and
-- their first-order revenue (from the trend of the last 12 complete months of acquisition), and the expected
-- repeat orders and revenue of existing customers (from the customer models: ml.customer_predictions), each
-- with a lower and upper bound. Methods and what the bounds include: DECISIONLOG.md, "Three-month forecast".
with

orders as (

    select
        ordered_at,
        is_first_order,
        revenue
    from {{ ref('fct_orders') }}

),

data_end as (

    select {{ dbt.date_trunc('month', 'max(ordered_at)') }} as last_month from orders

),

-- New customers per complete month (the month of the last order may be partial and is left out); a month
-- with orders but nobody new counts as 0.
months as (

    select distinct {{ dbt.date_trunc('month', 'orders.ordered_at') }} as month
    from orders
    cross join data_end
    where orders.ordered_at < data_end.last_month

),

acquisition as (

    select
        months.month,
        count(orders.ordered_at) as new_customers,
        coalesce(sum(orders.revenue), 0) as first_order_revenue
    from months
    left join orders
        on
            months.month = {{ dbt.date_trunc('month', 'orders.ordered_at') }}
            and orders.is_first_order
    group by months.month

),

recent as (

    select
        acquisition.*,
        {{ dbt.datediff('data_end.last_month', 'acquisition.month', 'month') }} as x
    from acquisition
    cross join data_end
    where acquisition.month >= {{ dbt.dateadd('month', -12, 'data_end.last_month') }}

),

trend as (

    select
        coalesce(regr_slope(new_customers, x), 0) as slope,
        coalesce(regr_intercept(new_customers, x), avg(new_customers)) as intercept,
        sum(first_order_revenue) / nullif(sum(new_customers), 0) as first_order_value,
        count(*) as months_fitted
    from recent

),

fit as (

    select
        sqrt(
            sum(power(recent.new_customers - (trend.intercept + trend.slope * recent.x), 2))
            / nullif(count(*) - 2, 0)
        ) as residual_sd
    from recent
    cross join trend

),

-- Repeat purchases expected of existing customers: month 1 from the 30-day expectation, months 2 and 3
-- share the rest of the 90-day expectation equally.
repeat_expected as (

    select
        sum(expected_purchases_30d) as orders_month_1,
        sum(expected_purchases_90d - expected_purchases_30d) / 2 as orders_month_2_3,
        sum(expected_purchases_30d * expected_order_value) as revenue_month_1,
        sum((expected_purchases_90d - expected_purchases_30d) * expected_order_value) / 2 as revenue_month_2_3
    from {{ ref('stg_ml__customer_predictions') }}
    where expected_purchases_90d is not null

),

horizon as (

    select 1 as months_ahead
    union all
    select 2 as months_ahead
    union all
    select 3 as months_ahead

),

forecast as (

    select
        horizon.months_ahead,
        {{ dbt.dateadd('month', 'horizon.months_ahead', 'data_end.last_month') }} as month,
        greatest(0, trend.intercept + trend.slope * horizon.months_ahead) as new_customers,
        fit.residual_sd,
        trend.first_order_value,
        trend.months_fitted,
        case when horizon.months_ahead = 1 then repeat_expected.orders_month_1 else repeat_expected.orders_month_2_3 end
            as repeat_orders,
        case
            when horizon.months_ahead = 1 then repeat_expected.revenue_month_1
            else repeat_expected.revenue_month_2_3
        end as repeat_revenue
    from horizon
    cross join data_end
    cross join trend
    cross join fit
    cross join repeat_expected

),

final as (

    select
        cast(month as date) as month,
        cast(months_ahead as integer) as months_ahead,
        cast(new_customers as double) as expected_new_customers,
        cast(greatest(0, new_customers - 1.96 * coalesce(residual_sd, 0)) as double) as new_customers_low,
        cast(new_customers + 1.96 * coalesce(residual_sd, 0) as double) as new_customers_high,
        cast(new_customers * first_order_value as double) as expected_new_customer_revenue,
        cast(repeat_orders as double) as expected_repeat_orders,
        cast(greatest(0, repeat_orders - 1.96 * sqrt(repeat_orders)) as double) as repeat_orders_low,
        cast(repeat_orders + 1.96 * sqrt(repeat_orders) as double) as repeat_orders_high,
        cast(repeat_revenue as double) as expected_repeat_revenue,
        cast(
            repeat_revenue * greatest(0, repeat_orders - 1.96 * sqrt(repeat_orders)) / nullif(repeat_orders, 0)
            as double
        ) as repeat_revenue_low,
        cast(
            repeat_revenue * (repeat_orders + 1.96 * sqrt(repeat_orders)) / nullif(repeat_orders, 0) as double
        ) as repeat_revenue_high,
        cast(new_customers * first_order_value + repeat_revenue as double) as expected_revenue,
        cast(months_fitted as integer) as acquisition_months_fitted
    from forecast

)

select * from final
