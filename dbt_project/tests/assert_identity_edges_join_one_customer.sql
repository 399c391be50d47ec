-- Both ends of every used core edge belong to the same customer. Always true of a complete walk (DuckDB's
-- recursive query); on Spark, where components are found in a bounded number of propagation rounds
-- (macros/portable.sql, connected_components), it fails when a component was too large to settle, instead of
-- splitting one person into two customers silently.
select
    edges.node_a,
    edges.node_b,
    a.customer_id as customer_id_a,
    b.customer_id as customer_id_b
from {{ ref('int_identity__edges') }} as edges
inner join {{ ref('int_identity__customer_keys') }} as a on edges.node_a = a.node_key
inner join {{ ref('int_identity__customer_keys') }} as b on edges.node_b = b.node_key
where edges.is_used and edges.edge_layer = 'core' and a.customer_id <> b.customer_id
