-- Product: the bundle suggestions of the basket model (ml.bundles, see orchestration/analytics/basket.py
-- suggest_bundles) with product names and categories, ready for a page or a campaign: the pair, how often
-- it is bought together, the combined and the suggested bundle price, and the margin the bundle keeps.
with

bundles as (

    select * from {{ ref('stg_ml__bundles') }}

),

products as (

    select
        product_id,
        product_name,
        category
    from {{ ref('dim_products') }}

),

final as (

    select
        bundles.product_a,
        coalesce(product_a.product_name, bundles.product_a) as product_a_name,
        product_a.category as product_a_category,
        bundles.product_b,
        coalesce(product_b.product_name, bundles.product_b) as product_b_name,
        product_b.category as product_b_category,
        cast(bundles.orders_with_both as bigint) as orders_with_both,
        cast(bundles.support as double) as support,
        cast(bundles.lift as double) as lift,
        cast(bundles.confidence_a_to_b as double) as confidence_a_to_b,
        cast(bundles.confidence_b_to_a as double) as confidence_b_to_a,
        cast(bundles.combined_list_price as double) as combined_list_price,
        cast(bundles.suggested_discount_pct as double) as suggested_discount_pct,
        cast(bundles.bundle_price as double) as bundle_price,
        cast(bundles.combined_margin as double) as combined_margin,
        cast(bundles.bundle_margin as double) as bundle_margin,
        cast(bundles.margin_kept as double) as margin_kept
    from bundles
    left join products as product_a on bundles.product_a = product_a.product_id
    left join products as product_b on bundles.product_b = product_b.product_id

)

select * from final
