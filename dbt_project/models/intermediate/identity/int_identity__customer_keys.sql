-- One row per identity node (every source record, and every e-mail that links records) with the unified
-- customer_id of its connected component.
--
-- Core records (CRM, shop accounts, guest e-mails) are grouped into the connected components of the used core
-- edges (connected_components): the smallest key of a component names it.
-- On DuckDB the walk's work grows with the square of a component's size; the guards in int_identity__edges keep
-- components small (a test warns above `identity_max_component_size`), and on 4 million nodes it takes
-- seconds. Browsers (web anonymous ids) are leaves: they are attached afterwards, so the millions of them
-- never enter the walk, and a browser linked to two different customers (a shared computer) joins neither.
with

edges as (

    select
        node_a,
        node_b,
        rule,
        edge_layer
    from {{ ref('int_identity__edges') }}
    where is_used

),

orders as (

    select
        shop_customer_id,
        email
    from {{ ref('stg_shop__orders') }}

),

-- Every source record, named as in truth files and the identity map: source and source_id.
records as (

    select
        'crm:' || crm_customer_id as node_key,
        'crm' as source,
        crm_customer_id as source_id
    from {{ ref('stg_crm__customers') }}

    union

    select
        'shop:' || shop_customer_id,
        'shop',
        shop_customer_id
    from {{ ref('stg_shop__customers') }}

    union

    select
        'shop:' || shop_customer_id,
        'shop',
        shop_customer_id
    from orders
    where shop_customer_id is not null

    union

    select
        'shop:' || user_id,
        'shop',
        user_id
    from {{ ref('stg_web__sessions') }}
    where user_id is not null

    union

    select
        'shop:' || user_id,
        'shop',
        user_id
    from {{ ref('stg_web__events') }}
    where user_id is not null

    union

    select
        'email:' || email,
        'shop_guest',
        email
    from orders
    where shop_customer_id is null

    union

    select
        'web:' || anonymous_id,
        'web',
        anonymous_id
    from {{ ref('stg_web__sessions') }}

    union

    select
        'web:' || anonymous_id,
        'web',
        anonymous_id
    from {{ ref('stg_web__events') }}

),

core_edges as (

    select
        node_a,
        node_b
    from edges
    where edge_layer = 'core'

),

core_nodes as (

    select node_key from records
    where source <> 'web'
    union
    select node_a from core_edges
    union
    select node_b from core_edges

),

adjacency as (

    select
        node_a as node_key,
        node_b as neighbour_key
    from core_edges
    union all
    select
        node_b as node_key,
        node_a as neighbour_key
    from core_edges

),

core_components as (

    -- (node, smallest key of its component): a recursive walk on DuckDB, rounds of propagation on Spark
    -- (macros/portable.sql).
    {{ connected_components('core_nodes', 'adjacency') }}

),

web_targets as (

    select
        edges.node_a as node_key,
        core_components.component_key
    from edges
    inner join core_components on edges.node_b = core_components.node_key
    where edges.edge_layer = 'web'

),

web_components as (

    select
        node_key,
        count(distinct component_key) as n_components,
        min(component_key) as component_key
    from web_targets
    group by node_key

),

web_nodes as (

    select
        records.node_key,
        case
            when web_components.n_components = 1 then web_components.component_key
            else records.node_key
        end as component_key,
        coalesce(web_components.n_components > 1, false) as has_link_conflict
    from records
    left join web_components on records.node_key = web_components.node_key
    where records.source = 'web'

),

nodes as (

    select
        node_key,
        component_key,
        false as has_link_conflict
    from core_components
    union all
    select
        node_key,
        component_key,
        has_link_conflict
    from web_nodes

),

-- Rules of the used edges that touch each node (a browser in conflict keeps none).
touching_rules as (

    select
        node_a as node_key,
        rule
    from edges
    union all
    select
        node_b as node_key,
        rule
    from edges
    where edge_layer = 'core'

),

node_rules as (

    select distinct
        touching_rules.node_key,
        touching_rules.rule
    from touching_rules
    left join web_nodes
        on touching_rules.node_key = web_nodes.node_key
    where not coalesce(web_nodes.has_link_conflict, false)

),

matched_rules as (

    select
        node_key,
        {{ ordered_string_agg('rule', "', '", 'rule') }} as rules
    from node_rules
    group by node_key

),

component_sizes as (

    select
        nodes.component_key,
        count(records.node_key) as component_records
    from nodes
    left join records on nodes.node_key = records.node_key
    group by nodes.component_key

),

final as (

    select
        nodes.node_key,
        {{ split_piece('nodes.node_key', "':'", 1) }} as node_type,
        records.source,
        records.source_id,
        nodes.component_key,
        {{ customer_id_from_key('nodes.component_key') }} as customer_id,
        case
            when component_sizes.component_records <= 1 or matched_rules.rules is null then 'unmatched'
            else matched_rules.rules
        end as matched_on,
        nodes.has_link_conflict,
        component_sizes.component_records
    from nodes
    left join records on nodes.node_key = records.node_key
    inner join component_sizes on nodes.component_key = component_sizes.component_key
    left join matched_rules on nodes.node_key = matched_rules.node_key

)

select * from final
