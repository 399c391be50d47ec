-- One row per promotion. The contract has no version column, so the latest load (then the file that
-- sorts last) wins.
with

source as (

    select * from {{ source('raw', 'shop__promotions') }}

),

versions as (

    select
        *,
        {{ version_rank('promotion_id') }} as version_rank
    from source

),

renamed as (

    select
        promotion_id,
        upper(trim(promotion_code)) as promotion_code,
        nullif(trim(description), '') as description,
        discount_pct,
        {{ to_utc('starts_at') }} as starts_at,
        {{ to_utc('ends_at') }} as ends_at,
        _source_file

    from versions
    where version_rank = 1

)

select * from renamed
