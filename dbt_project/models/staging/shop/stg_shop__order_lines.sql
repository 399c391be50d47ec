with

source as (

    select * from {{ source('raw', 'shop__order_lines') }}

),

renamed as (

    select
        order_id || '-' || cast(line_number as {{ dbt.type_string() }}) as order_line_id,
        order_id,
        cast(line_number as integer) as line_number,
        product_id,
        cast(quantity as integer) as quantity,
        unit_price,
        _source_file

    from source

)

select * from renamed
