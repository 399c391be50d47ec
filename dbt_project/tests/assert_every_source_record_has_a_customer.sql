-- Every CRM record, shop account, guest checkout e-mail and browser of the staged data is in the identity map.
with

expected as (

    select
        'crm' as source,
        crm_customer_id as source_id
    from {{ ref('stg_crm__customers') }}
    union
    select
        'shop',
        shop_customer_id
    from {{ ref('stg_shop__customers') }}
    union
    select
        'shop_guest',
        email
    from {{ ref('stg_shop__orders') }}
    where shop_customer_id is null
    union
    select
        'web',
        anonymous_id
    from {{ ref('stg_web__sessions') }}

)

select expected.*
from expected
left join {{ ref('customer_identity_map') }} as identity_map
    on expected.source = identity_map.source and expected.source_id = identity_map.source_id
where identity_map.customer_id is null
