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
        trim(product_name) as product_name,
        trim(category) as category,
        nullif(trim(subcategory), '') as subcategory,
        nullif(trim(brand), '') as brand,
        list_price,
        unit_cost,
        currency,
        is_active,
        {{ to_utc('updated_at') }} as updated_at,
        _source_file

    from versions
    where version_rank = 1

)

select * from renamed
