-- One row per product of the current catalogue.
with

products as (

    select * from {{ ref('stg_shop__products') }}

),

final as (

    select
        product_id,
        product_name,
        category,
        subcategory,
        brand,
        cast(list_price as double) as list_price,
        cast(unit_cost as double) as unit_cost,
        cast(list_price - unit_cost as double) as unit_margin,
        cast(case when list_price > 0 then (list_price - unit_cost) / list_price end as double)
            as margin_rate,
        currency,
        is_active,
        updated_at
    from products

)

select * from final
