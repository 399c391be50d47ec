with

source as (

    select * from {{ source('ml', 'model_quality') }}

),

renamed as (

    select
        model,
        metric,
        segment,
        value as metric_value,
        threshold,
        passed as is_passed,
        {{ to_utc('computed_at') }} as computed_at

    from source

)

select * from renamed
