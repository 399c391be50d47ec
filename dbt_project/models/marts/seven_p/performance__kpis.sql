-- Performance: the Overview's headline figures for every calendar month, quarter and year, each with the
-- period before it. One row per period and cell of sales channel x country x RFM segment, where every
-- dimension is either one value or '(all)' (the cube of the three), so a distinct count such as active
-- customers is exact for any combination of filters: a page selects one row and never adds rows up.
-- Country and segment are the customer's (customer_360, as of now); a sales-channel cell holds the orders
-- placed in that channel only, and every figure of the cell (new, repeat, lapsed) is counted on them.
with

as_of as (

    select {{ as_of_timestamp(ref('fct_orders')) }} as as_of_at

),

customers as (

    select
        customer_id,
        coalesce(country, 'unknown') as country,
        rfm_segment,
        clv_12m
    from {{ ref('customer_360') }}

),

orders as (

    select
        fct_orders.order_id,
        fct_orders.customer_id,
        fct_orders.ordered_at,
        fct_orders.sales_channel,
        fct_orders.revenue,
        fct_orders.gross_margin,
        coalesce(customers.country, 'unknown') as country,
        coalesce(customers.rfm_segment, 'prospect') as rfm_segment
    from {{ ref('fct_orders') }} as fct_orders
    left join customers on fct_orders.customer_id = customers.customer_id
    where fct_orders.ordered_at <= (select as_of.as_of_at from as_of)

),

-- Each order in the eight cells it belongs to: its own value or '(all)' for each dimension.
expanded as (

    select
        orders.order_id,
        orders.customer_id,
        orders.ordered_at,
        orders.revenue,
        orders.gross_margin,
        case when by_channel.keep then orders.sales_channel else '(all)' end as sales_channel,
        case when by_country.keep then orders.country else '(all)' end as country,
        case when by_segment.keep then orders.rfm_segment else '(all)' end as rfm_segment
    from orders
    cross join (values (true), (false)) as by_channel (keep)
    cross join (values (true), (false)) as by_country (keep)
    cross join (values (true), (false)) as by_segment (keep)

),

sequenced as (

    select
        *,
        row_number() over (
            partition by sales_channel, country, rfm_segment, customer_id order by ordered_at, order_id
        ) as order_number,
        lead(ordered_at) over (
            partition by sales_channel, country, rfm_segment, customer_id order by ordered_at, order_id
        ) as next_ordered_at
    from expanded

),

bounds as (

    select
        as_of.as_of_at,
        min(orders.ordered_at) as first_ordered_at
    from orders
    cross join as_of
    group by as_of.as_of_at

),

periods as (

    select
        period_types.period_type,
        period_types.months,
        cast(spine.period_start as date) as period_start
    from bounds
    cross join (values ('month', 1), ('quarter', 3), ('year', 12)) as period_types (period_type, months)
    cross join lateral {{ month_series(
        'date_trunc(period_types.period_type, bounds.first_ordered_at)',
        'date_trunc(period_types.period_type, bounds.as_of_at)',
        'period_types.months'
    ) }} as spine (period_start)

),

cells as (

    select distinct
        sales_channel,
        country,
        rfm_segment
    from expanded

),

grid as (

    select
        periods.period_type,
        periods.months,
        periods.period_start,
        cast({{ dbt.dateadd('month', 'periods.months', 'periods.period_start') }} as date) as period_end,
        cells.sales_channel,
        cells.country,
        cells.rfm_segment
    from periods cross join cells

),

-- A customer has lapsed from the moment 365 days after an order until the next order (if any): one
-- interval per order whose next order came later than that, or never.
lapses as (

    select
        sales_channel,
        country,
        rfm_segment,
        ordered_at + interval 365 day as lapsed_at,
        next_ordered_at as returned_at
    from sequenced
    where
        ordered_at + interval 365 day <= (select as_of.as_of_at from as_of)
        and (next_ordered_at is null or next_ordered_at > ordered_at + interval 365 day)

),

activity as (

    select
        periods.period_type,
        periods.period_start,
        sequenced.sales_channel,
        sequenced.country,
        sequenced.rfm_segment,
        count(distinct sequenced.customer_id) as active_customers,
        count(*) filter (where sequenced.order_number = 1) as new_customers,
        count(*) filter (where sequenced.order_number = 2) as new_repeat_customers,
        count(*) as orders,
        sum(sequenced.revenue) as revenue,
        sum(sequenced.gross_margin) as gross_margin,
        coalesce(sum(sequenced.revenue) filter (where sequenced.order_number = 1), 0) as new_customer_revenue
    from sequenced
    inner join periods
        on date_trunc(periods.period_type, sequenced.ordered_at) = periods.period_start
    group by all

),

lapse_starts as (

    select
        periods.period_type,
        periods.period_start,
        lapses.sales_channel,
        lapses.country,
        lapses.rfm_segment,
        count(*) as lapses_started
    from lapses
    inner join periods on date_trunc(periods.period_type, lapses.lapsed_at) = periods.period_start
    group by all

),

lapse_ends as (

    select
        periods.period_type,
        periods.period_start,
        lapses.sales_channel,
        lapses.country,
        lapses.rfm_segment,
        count(*) as lapses_ended
    from lapses
    inner join periods on date_trunc(periods.period_type, lapses.returned_at) = periods.period_start
    where lapses.returned_at is not null
    group by all

),

predicted as (

    select
        expanded.sales_channel,
        expanded.country,
        expanded.rfm_segment,
        sum(customers.clv_12m) as predicted_clv_12m
    from (
        select distinct
            sales_channel,
            country,
            rfm_segment,
            customer_id
        from expanded
    ) as expanded
    inner join customers on expanded.customer_id = customers.customer_id
    group by all

),

measured as (

    select
        grid.*,
        coalesce(activity.active_customers, 0) as active_customers,
        coalesce(activity.new_customers, 0) as new_customers,
        coalesce(activity.orders, 0) as orders,
        coalesce(activity.revenue, 0) as revenue,
        coalesce(activity.gross_margin, 0) as gross_margin,
        coalesce(activity.new_customer_revenue, 0) as new_customer_revenue,
        sum(coalesce(activity.new_customers, 0)) over cumulative as customers,
        sum(coalesce(activity.new_repeat_customers, 0)) over cumulative as repeat_customers,
        sum(coalesce(lapse_starts.lapses_started, 0)) over cumulative
        - sum(coalesce(lapse_ends.lapses_ended, 0)) over cumulative as lapsed_customers
    from grid
    left join activity
        on
            grid.period_type = activity.period_type
            and grid.period_start = activity.period_start
            and grid.sales_channel = activity.sales_channel
            and grid.country = activity.country
            and grid.rfm_segment = activity.rfm_segment
    left join lapse_starts
        on
            grid.period_type = lapse_starts.period_type
            and grid.period_start = lapse_starts.period_start
            and grid.sales_channel = lapse_starts.sales_channel
            and grid.country = lapse_starts.country
            and grid.rfm_segment = lapse_starts.rfm_segment
    left join lapse_ends
        on
            grid.period_type = lapse_ends.period_type
            and grid.period_start = lapse_ends.period_start
            and grid.sales_channel = lapse_ends.sales_channel
            and grid.country = lapse_ends.country
            and grid.rfm_segment = lapse_ends.rfm_segment
    window cumulative as (
        partition by grid.period_type, grid.sales_channel, grid.country, grid.rfm_segment
        order by grid.period_start
        rows between unbounded preceding and current row
    )

),

compared as (

    select
        current_period.*,
        previous_period.customers as previous_customers,
        previous_period.active_customers as previous_active_customers,
        previous_period.new_customers as previous_new_customers,
        previous_period.orders as previous_orders,
        previous_period.revenue as previous_revenue,
        previous_period.gross_margin as previous_gross_margin,
        previous_period.repeat_customers as previous_repeat_customers,
        previous_period.lapsed_customers as previous_lapsed_customers
    from measured as current_period
    left join measured as previous_period
        on
            current_period.period_type = previous_period.period_type
            and current_period.sales_channel = previous_period.sales_channel
            and current_period.country = previous_period.country
            and current_period.rfm_segment = previous_period.rfm_segment
            and current_period.period_start = previous_period.period_end

),

joined as (

    select
        compared.*,
        predicted.predicted_clv_12m as cell_predicted_clv_12m,
        as_of.as_of_at
    from compared
    left join predicted
        on
            compared.sales_channel = predicted.sales_channel
            and compared.country = predicted.country
            and compared.rfm_segment = predicted.rfm_segment
    cross join as_of

),

final as (

    select
        period_type,
        period_start,
        period_end,
        cast(period_end <= cast(as_of_at as date) as boolean) as is_complete,
        sales_channel,
        country,
        rfm_segment,
        cast(customers as bigint) as customers,
        cast(active_customers as bigint) as active_customers,
        cast(new_customers as bigint) as new_customers,
        cast(active_customers - new_customers as bigint) as returning_customers,
        cast(orders as bigint) as orders,
        cast(revenue as double) as revenue,
        cast(gross_margin as double) as gross_margin,
        cast(new_customer_revenue as double) as new_customer_revenue,
        cast(revenue - new_customer_revenue as double) as returning_customer_revenue,
        cast(revenue / nullif(orders, 0) as double) as average_order_value,
        cast(repeat_customers as bigint) as repeat_customers,
        cast(repeat_customers / customers as double) as repeat_rate,
        cast(lapsed_customers as bigint) as lapsed_customers,
        cast(lapsed_customers / customers as double) as churn_rate,
        cast(
            case
                when period_start = date_trunc(period_type, as_of_at) then cell_predicted_clv_12m
            end as double
        ) as predicted_clv_12m,
        cast(previous_customers as bigint) as previous_customers,
        cast(previous_active_customers as bigint) as previous_active_customers,
        cast(previous_new_customers as bigint) as previous_new_customers,
        cast(previous_orders as bigint) as previous_orders,
        cast(previous_revenue as double) as previous_revenue,
        cast(previous_gross_margin as double) as previous_gross_margin,
        cast(previous_revenue / nullif(previous_orders, 0) as double) as previous_average_order_value,
        cast(previous_repeat_customers / nullif(previous_customers, 0) as double) as previous_repeat_rate,
        cast(previous_lapsed_customers / nullif(previous_customers, 0) as double) as previous_churn_rate,
        cast((customers - previous_customers) / nullif(previous_customers, 0) as double) as customers_change,
        cast(
            (active_customers - previous_active_customers) / nullif(previous_active_customers, 0) as double
        ) as active_customers_change,
        cast((revenue - previous_revenue) / nullif(previous_revenue, 0) as double) as revenue_change,
        cast(
            (gross_margin - previous_gross_margin) / nullif(abs(previous_gross_margin), 0) as double
        ) as gross_margin_change,
        cast(
            (revenue / nullif(orders, 0) - previous_revenue / nullif(previous_orders, 0))
            / nullif(previous_revenue / nullif(previous_orders, 0), 0) as double
        ) as average_order_value_change,
        cast(
            repeat_customers / customers - previous_repeat_customers / nullif(previous_customers, 0)
            as double
        ) as repeat_rate_change,
        cast(
            lapsed_customers / customers - previous_lapsed_customers / nullif(previous_customers, 0)
            as double
        ) as churn_rate_change
    from joined
    where customers > 0

)

select * from final
