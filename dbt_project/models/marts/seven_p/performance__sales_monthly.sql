-- Performance: monthly sales by category, sales channel, shipping country and RFM segment, with the change
-- against the previous month and the same month a year earlier. A customer's segment is the one they were
-- in at the end of the previous month (profiling__customer_segments_monthly), i.e. what a manager saw when
-- the month began; customers buying for the first time count as 'prospect'. Lines carry their share of the
-- order discount (fct_order_lines), so revenue sums to fct_orders.revenue.
with

lines as (

    select
        order_id,
        customer_id,
        {{ dbt.date_trunc('month', 'ordered_at') }} as month,
        coalesce(category, 'uncategorised') as category,
        sales_channel,
        coalesce(country, 'unknown') as country,
        quantity,
        revenue,
        gross_margin
    from {{ ref('fct_order_lines') }}

),

first_orders as (

    select order_id from {{ ref('fct_orders') }}
    where is_first_order

),

segments as (

    select
        customer_id,
        applies_to_month as month,
        segment
    from {{ ref('profiling__customer_segments_monthly') }}

),

grouped as (

    select
        lines.month,
        lines.category,
        lines.sales_channel,
        lines.country,
        coalesce(segments.segment, 'prospect') as rfm_segment,
        count(distinct lines.order_id) as orders,
        count(distinct lines.customer_id) as customers,
        sum(lines.quantity) as units,
        sum(lines.revenue) as revenue,
        sum(lines.gross_margin) as gross_margin,
        sum(case when first_orders.order_id is not null then lines.revenue else 0 end) as new_customer_revenue
    from lines
    left join segments on lines.customer_id = segments.customer_id and lines.month = segments.month
    left join first_orders on lines.order_id = first_orders.order_id
    group by
        lines.month, lines.category, lines.sales_channel, lines.country, coalesce(segments.segment, 'prospect')

),

compared as (

    select
        current_period.*,
        previous_month.revenue as revenue_previous_month,
        previous_year.revenue as revenue_previous_year
    from grouped as current_period
    left join grouped as previous_month
        on
            current_period.category = previous_month.category
            and current_period.sales_channel = previous_month.sales_channel
            and current_period.country = previous_month.country
            and current_period.rfm_segment = previous_month.rfm_segment
            and {{ dbt.dateadd('month', -1, 'current_period.month') }} = previous_month.month
    left join grouped as previous_year
        on
            current_period.category = previous_year.category
            and current_period.sales_channel = previous_year.sales_channel
            and current_period.country = previous_year.country
            and current_period.rfm_segment = previous_year.rfm_segment
            and {{ dbt.dateadd('month', -12, 'current_period.month') }} = previous_year.month

),

final as (

    select
        cast(month as date) as month,
        category,
        sales_channel,
        country,
        rfm_segment,
        cast(orders as bigint) as orders,
        cast(customers as bigint) as customers,
        cast(units as bigint) as units,
        cast(revenue as double) as revenue,
        cast(gross_margin as double) as gross_margin,
        cast(revenue / orders as double) as average_order_value,
        cast(new_customer_revenue as double) as new_customer_revenue,
        cast(revenue - new_customer_revenue as double) as returning_customer_revenue,
        cast(coalesce(revenue_previous_month, 0) as double) as revenue_previous_month,
        cast((revenue - revenue_previous_month) / nullif(revenue_previous_month, 0) as double)
            as revenue_change_previous_month,
        cast(coalesce(revenue_previous_year, 0) as double) as revenue_same_month_last_year,
        cast((revenue - revenue_previous_year) / nullif(revenue_previous_year, 0) as double)
            as revenue_change_same_month_last_year
    from compared

)

select * from final
