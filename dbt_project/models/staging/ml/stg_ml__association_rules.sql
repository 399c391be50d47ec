with

source as (

    select * from {{ source('ml', 'association_rules') }}

),

renamed as (

    select
        {{ dbt.hash("level || '#' || antecedents || '=>' || consequents") }} as rule_id,
        level as rule_level,
        antecedents,
        consequents,
        cast(n_items as integer) as n_items,
        support,
        confidence,
        lift,
        leverage,
        conviction

    from source

)

select * from renamed
