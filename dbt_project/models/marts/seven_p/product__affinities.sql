-- Product: the association rules of the basket model with product names, ranked by lift within each level.
-- Rule sides hold items joined by ' | '; they are split with split_piece (macros/portable.sql), one position
-- at a time up to the longest side, so the names come back in the same order.
with

rules as (

    select * from {{ ref('stg_ml__association_rules') }}

),

products as (

    select
        product_id,
        product_name
    from {{ ref('dim_products') }}

),

positions as (

    {%- for i in range(1, 11) %}
        select {{ i }} as position{{ ' union all' if not loop.last }}
    {%- endfor %}

),

sides as (

    select
        rule_id,
        rule_level,
        'antecedents' as side,
        antecedents as items
    from rules
    union all
    select
        rule_id,
        rule_level,
        'consequents' as side,
        consequents as items
    from rules

),

items as (

    select
        sides.rule_id,
        sides.side,
        positions.position,
        trim({{ split_piece('sides.items', "'|'", 'positions.position') }}) as item,
        sides.rule_level
    from sides
    inner join positions
        on positions.position <= 1 + length(sides.items) - length(replace(sides.items, '|', ''))

),

named as (

    select
        items.rule_id,
        items.side,
        {{ ordered_string_agg(
            "case when items.rule_level = 'product' then coalesce(products.product_name, items.item)
                  else items.item end",
            "' | '", 'items.position') }} as names
    from items
    left join products on items.item = products.product_id
    group by items.rule_id, items.side

),

final as (

    select
        rules.rule_id,
        rules.rule_level,
        rules.antecedents,
        rules.consequents,
        antecedent_names.names as antecedent_names,
        consequent_names.names as consequent_names,
        rules.n_items,
        cast(rules.support as double) as support,
        cast(rules.confidence as double) as confidence,
        cast(rules.lift as double) as lift,
        cast(rules.leverage as double) as leverage,
        cast(rules.conviction as double) as conviction,
        cast(row_number() over (
            partition by rules.rule_level order by rules.lift desc, rules.confidence desc, rules.rule_id asc
        ) as bigint) as lift_rank
    from rules
    left join named as antecedent_names
        on rules.rule_id = antecedent_names.rule_id and antecedent_names.side = 'antecedents'
    left join named as consequent_names
        on rules.rule_id = consequent_names.rule_id and consequent_names.side = 'consequents'

)

select * from final
