-- One row per campaign. The contract has no version column, so the latest load (then the file that
-- sorts last) wins.
with

source as (

    select * from {{ source('raw', 'marketing__campaigns') }}

),

versions as (

    select
        *,
        {{ version_rank('campaign_id') }} as version_rank
    from source

),

renamed as (

    select
        campaign_id,
        trim(campaign_name) as campaign_name,
        channel,
        {{ to_utc('started_at') }} as started_at,
        {{ to_utc('ended_at') }} as ended_at,
        cost,
        currency,
        _source_file

    from versions
    where version_rank = 1

)

select * from renamed
