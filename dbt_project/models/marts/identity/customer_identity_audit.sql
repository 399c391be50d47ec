-- One row per candidate link between two identity nodes: which rule proposed it, what evidence it rests
-- on, whether it was used, and if not, which guard stopped it. Read it to see why two records were merged
-- (or kept apart).
with

edges as (

    select * from {{ ref('int_identity__edges') }}

),

customer_keys as (

    select
        node_key,
        customer_id,
        has_link_conflict
    from {{ ref('int_identity__customer_keys') }}

),

final as (

    select
        edges.node_a,
        edges.node_b,
        edges.rule,
        edges.evidence,
        edges.edge_layer,
        edges.is_used and not coalesce(node_a_keys.has_link_conflict, false) as is_used,
        coalesce(
            edges.excluded_reason,
            case when edges.is_used and node_a_keys.has_link_conflict then 'shared_browser' end
        ) as excluded_reason,
        node_a_keys.customer_id as customer_id_a,
        node_b_keys.customer_id as customer_id_b
    from edges
    left join customer_keys as node_a_keys on edges.node_a = node_a_keys.node_key
    left join customer_keys as node_b_keys on edges.node_b = node_b_keys.node_key

)

select * from final
