-- Every candidate link between two identifiers of a person, with the rule that proposes it and whether the
-- guards let it through. One row per (node_a, node_b, rule). Node keys are typed: crm:<crm_customer_id>,
-- shop:<shop_customer_id> (= web user_id), email:<normalised e-mail> (a guest checkout's identity),
-- web:<anonymous_id>. The rules and guards are documented in _identity__models.yml and DECISIONLOG.md.
with

crm_customers as (

    select * from {{ ref('stg_crm__customers') }}

),

shop_customers as (

    select * from {{ ref('stg_shop__customers') }}

),

orders as (

    select
        order_id,
        shop_customer_id,
        email
    from {{ ref('stg_shop__orders') }}

),

sessions as (

    select
        anonymous_id,
        user_id
    from {{ ref('stg_web__sessions') }}

),

events as (

    select
        anonymous_id,
        user_id,
        event_type,
        order_id
    from {{ ref('stg_web__events') }}

),

campaign_sessions as (

    select
        anonymous_id,
        utm_campaign as campaign_id,
        started_at
    from {{ ref('stg_web__sessions') }}
    where utm_campaign is not null

),

clicks as (

    select
        crm_customer_id,
        campaign_id,
        clicked_at
    from {{ ref('stg_marketing__sends') }}
    where clicked_at is not null

),

-- Records that carry a person's name: CRM records and shop accounts. A record counts as named only with
-- both a first and a last name; the others can still match, but only through an unambiguous identifier.
named_records as (

    select
        'crm:' || crm_customer_id as holder_key,
        {{ name_key('first_name') }} as first_key,
        {{ name_key('last_name') }} as last_key
    from crm_customers

    union all

    select
        'shop:' || shop_customer_id as holder_key,
        {{ name_key('first_name') }} as first_key,
        {{ name_key('last_name') }} as last_key
    from shop_customers

),

-- Which record holds which e-mail or phone, and through which field (the rule).
held_identifiers as (

    select
        'crm:' || crm_customer_id as holder_key,
        'email' as identifier_type,
        email as identifier,
        'crm_email' as rule
    from crm_customers
    where email is not null

    union all

    select
        'crm:' || crm_customer_id,
        'phone',
        phone_e164,
        'crm_phone'
    from crm_customers
    where phone_e164 is not null

    union all

    select
        'shop:' || shop_customer_id,
        'email',
        email,
        'shop_account_email'
    from shop_customers
    where email is not null

    union all

    select
        'shop:' || shop_customer_id,
        'phone',
        phone_e164,
        'shop_account_phone'
    from shop_customers
    where phone_e164 is not null

    union all

    -- The e-mail typed at checkout by a logged-in account (may differ from the account's own e-mail).
    select distinct
        'shop:' || shop_customer_id,
        'email',
        email,
        'shop_order_email'
    from orders
    where shop_customer_id is not null

),

holdings as (

    -- One row per record and identifier; "shop_account_email" sorts before "shop_order_email", so an
    -- account's own address keeps the account rule.
    select
        held.holder_key,
        held.identifier_type,
        held.identifier,
        min(held.rule) as rule,
        max(named.first_key) as first_key,
        max(named.last_key) as last_key
    from held_identifiers as held
    left join named_records as named on held.holder_key = named.holder_key
    group by held.holder_key, held.identifier_type, held.identifier

),

identifiers as (

    select
        identifier_type,
        identifier,
        count(*) as n_holders,
        case
            when identifier_type = 'email' then {{ is_placeholder_email('identifier') }}
            else {{ is_placeholder_phone('identifier') }}
        end as is_placeholder
    from holdings
    group by identifier_type, identifier

),

usable_holdings as (

    select
        holdings.*,
        holdings.first_key is not null and holdings.last_key is not null as is_named
    from holdings
    inner join identifiers
        on
            holdings.identifier_type = identifiers.identifier_type
            and holdings.identifier = identifiers.identifier
    where
        not identifiers.is_placeholder
        and identifiers.n_holders <= {{ var('identity_max_holders') }}

),

-- Rule same_<email|phone>_and_name: two named records sharing a usable identifier are one person when their
-- names are compatible. This is what keeps a household's shared e-mail from merging two people.
named_pairs as (

    select
        a.identifier_type,
        a.identifier,
        a.holder_key as node_a,
        b.holder_key as node_b,
        {{ names_compatible('a.first_key', 'a.last_key', 'b.first_key', 'b.last_key') }} as is_name_compatible
    from usable_holdings as a
    inner join usable_holdings as b
        on
            a.identifier_type = b.identifier_type
            and a.identifier = b.identifier
            and a.holder_key < b.holder_key
    where a.is_named and b.is_named

),

name_conflicts as (

    select
        identifier_type,
        identifier,
        max(case when is_name_compatible then 0 else 1 end) = 1 as has_name_conflict
    from named_pairs
    group by identifier_type, identifier

),

pair_edges as (

    select
        node_a,
        node_b,
        'same_' || identifier_type || '_and_name' as rule,
        identifier as evidence,
        'core' as edge_layer,
        is_name_compatible as is_used,
        case when not is_name_compatible then 'name_conflict' end as excluded_reason
    from named_pairs

),

-- Rules crm_email, shop_account_email, shop_order_email: a record joins the e-mail itself (the identity of
-- guest checkouts with that address, and of unnamed records) only when the address is unambiguous: no
-- placeholder, few holders, no two holders with incompatible names.
email_edges as (

    select
        holdings.holder_key as node_a,
        'email:' || holdings.identifier as node_b,
        holdings.rule,
        holdings.identifier as evidence,
        'core' as edge_layer,
        not identifiers.is_placeholder
        and identifiers.n_holders <= {{ var('identity_max_holders') }}
        and not coalesce(name_conflicts.has_name_conflict, false) as is_used,
        case
            when identifiers.is_placeholder then 'placeholder'
            when identifiers.n_holders > {{ var('identity_max_holders') }} then 'too_many_holders'
            when name_conflicts.has_name_conflict then 'name_conflict'
        end as excluded_reason
    from holdings
    inner join identifiers
        on
            holdings.identifier_type = identifiers.identifier_type
            and holdings.identifier = identifiers.identifier
    left join name_conflicts
        on
            holdings.identifier_type = name_conflicts.identifier_type
            and holdings.identifier = name_conflicts.identifier
    where holdings.identifier_type = 'email'

),

-- Phones link only through named pairs; a phone that is a placeholder or held too often is recorded here so
-- the audit shows why it matched nothing.
excluded_phone_edges as (

    select
        holdings.holder_key as node_a,
        'phone:' || holdings.identifier as node_b,
        holdings.rule,
        holdings.identifier as evidence,
        'core' as edge_layer,
        false as is_used,
        case when identifiers.is_placeholder then 'placeholder' else 'too_many_holders' end as excluded_reason
    from holdings
    inner join identifiers
        on
            holdings.identifier_type = identifiers.identifier_type
            and holdings.identifier = identifiers.identifier
    where
        holdings.identifier_type = 'phone'
        and (identifiers.is_placeholder or identifiers.n_holders > {{ var('identity_max_holders') }})

),

-- Rule web_login: a browser seen logged in as a shop account (session or event user_id).
logins as (

    select
        anonymous_id,
        user_id
    from sessions
    where user_id is not null
    union
    select
        anonymous_id,
        user_id
    from events
    where user_id is not null

),

-- Rule web_purchase: a browser's purchase event names an order, whose account (or guest e-mail) is known.
purchase_targets as (

    select
        events.anonymous_id,
        orders.order_id,
        case
            when orders.shop_customer_id is not null then 'shop:' || orders.shop_customer_id
            else 'email:' || orders.email
        end as node_b,
        orders.shop_customer_id is null and {{ is_placeholder_email('orders.email') }} as is_placeholder
    from events
    inner join orders on events.order_id = orders.order_id
    where events.event_type = 'purchase'

),

purchases as (

    select
        anonymous_id,
        node_b,
        is_placeholder,
        min(order_id) as evidence
    from purchase_targets
    group by anonymous_id, node_b, is_placeholder

),

-- Rule campaign_click: a session tagged with a campaign (utm_campaign) that starts within
-- `identity_click_window_seconds` after a recorded click on that campaign came from the CRM record that
-- clicked. Only one-to-one matches count: a click with two candidate sessions, or a session with two
-- candidate clicks, links nothing.
click_matches as (

    select
        campaign_sessions.anonymous_id,
        clicks.crm_customer_id,
        clicks.campaign_id,
        clicks.clicked_at,
        campaign_sessions.started_at
    from clicks
    inner join campaign_sessions
        on
            clicks.campaign_id = campaign_sessions.campaign_id
            and clicks.clicked_at <= campaign_sessions.started_at
            and campaign_sessions.started_at
            <= {{ dbt.dateadd('second', var('identity_click_window_seconds'), 'clicks.clicked_at') }}

),

clicks_with_one_session as (

    select
        campaign_id,
        clicked_at,
        crm_customer_id
    from click_matches
    group by campaign_id, clicked_at, crm_customer_id
    having count(*) = 1

),

sessions_with_one_click as (

    select
        campaign_id,
        started_at,
        anonymous_id
    from click_matches
    group by campaign_id, started_at, anonymous_id
    having count(*) = 1

),

unique_click_matches as (

    select click_matches.*
    from click_matches
    inner join clicks_with_one_session
        on
            click_matches.campaign_id = clicks_with_one_session.campaign_id
            and click_matches.clicked_at = clicks_with_one_session.clicked_at
            and click_matches.crm_customer_id = clicks_with_one_session.crm_customer_id
    inner join sessions_with_one_click
        on
            click_matches.campaign_id = sessions_with_one_click.campaign_id
            and click_matches.started_at = sessions_with_one_click.started_at
            and click_matches.anonymous_id = sessions_with_one_click.anonymous_id

),

web_edges as (

    select
        'web:' || anonymous_id as node_a,
        'shop:' || user_id as node_b,
        'web_login' as rule,
        user_id as evidence,
        'web' as edge_layer,
        true as is_used,
        cast(null as {{ dbt.type_string() }}) as excluded_reason
    from logins

    union all

    select
        'web:' || anonymous_id as node_a,
        node_b,
        'web_purchase' as rule,
        evidence,
        'web' as edge_layer,
        not is_placeholder as is_used,
        case when is_placeholder then 'placeholder' end as excluded_reason
    from purchases

    union all

    select
        'web:' || anonymous_id as node_a,
        'crm:' || crm_customer_id as node_b,
        'campaign_click' as rule,
        min(campaign_id) as evidence,
        'web' as edge_layer,
        true as is_used,
        cast(null as {{ dbt.type_string() }}) as excluded_reason
    from unique_click_matches
    group by anonymous_id, crm_customer_id

),

unioned as (

    select * from pair_edges
    union all
    select * from email_edges
    union all
    select * from excluded_phone_edges
    union all
    select * from web_edges

)

select * from unioned
