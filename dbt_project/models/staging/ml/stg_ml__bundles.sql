with

source as (

    select * from {{ source('ml', 'bundles') }}

),

renamed as (

    select
        product_a,
        product_b,
        count as orders_with_both,
        support,
        lift,
        confidence_a_to_b,
        confidence_b_to_a,
        combined_list_price,
        combined_unit_cost,
        combined_margin,
        suggested_discount_pct,
        bundle_price,
        bundle_margin,
        margin_kept

    from source

)

select * from renamed
