-- One row per product: the latest version of the catalogue entry.
with

source as (

    select * from {{ source('raw', 'shop__products') }}

),

versions as (

    select
        *,
        {{ version_rank('product_id', 'updated_at') }} as version_rank
    from source

),

renamed as (

    select
        product_id,
        -- Exports without names (Olist) or categories show the product id and one "uncategorised" group,
        -- so every product still appears in product and category marts (DECISIONLOG: imported exports).
        coalesce(nullif(trim(product_name), ''), product_id) as product_name,
        coalesce(nullif(trim(category), ''), 'uncategorised') as category,
        nullif(trim(subcategory), '') as subcategory,
        nullif(trim(brand), '') as brand,
        list_price,
        unit_cost,
        currency,
        -- An export that does not say lists products that sell: unknown counts as on sale.
        coalesce(is_active, true) as is_active,
        {{ to_utc('updated_at') }} as updated_at,
        _source_file

    from versions
    where version_rank = 1

)

select * from renamed
