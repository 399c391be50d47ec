{#
    SQL that differs between the engines the project builds on, one macro per construct, each dispatched
    (`adapter.dispatch(..., 'ecrm')`) to a DuckDB implementation (the default engine) and an Apache Spark one
    (dbt-spark, DECISIONLOG.md "The same warehouse on Spark"). Models call only these names, so a third engine
    needs one implementation per macro here, not edits across models. tests/test_portable_macros.py builds
    every macro on both engines over the same cases and compares the answers.
#}

{#
    Every match of the regular expression `pattern` (a Jinja string, written once for both engines) in `text`
    replaced by `replacement`. DuckDB replaces only the first match without the 'g' flag; Spark replaces every
    match, and its string literals take a backslash escaped.
#}
{% macro regexp_replace_all(text, pattern, replacement) -%}
    {{ return(adapter.dispatch('regexp_replace_all', 'ecrm')(text, pattern, replacement)) }}
{%- endmacro %}

{% macro duckdb__regexp_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, '{{ pattern }}', '{{ replacement }}', 'g')
{%- endmacro %}

{% macro spark__regexp_replace_all(text, pattern, replacement) -%}
    regexp_replace({{ text }}, '{{ pattern | replace("\\", "\\\\") }}', '{{ replacement }}')
{%- endmacro %}

{# Runs of white space (spaces, tabs, line breaks) collapsed to one space. #}
{% macro collapse_whitespace(text) -%}
    {{ regexp_replace_all(text, '\\s+', ' ') }}
{%- endmacro %}

{# Every character that is not a lower-case ASCII letter removed. #}
{% macro ascii_letters_only(text) -%}
    {{ regexp_replace_all(text, '[^a-z]', '') }}
{%- endmacro %}

{#
    Accents folded: a letter with diacritics becomes its base letter (é = e, Ł stays Ł: it has no
    decomposition). DuckDB has strip_accents.
#}
{% macro fold_accents(text) -%}
    {{ return(adapter.dispatch('fold_accents', 'ecrm')(text)) }}
{%- endmacro %}

{% macro duckdb__fold_accents(text) -%}
    strip_accents({{ text }})
{%- endmacro %}

{#
    Spark SQL has no accent folding, so this is a character table: every character of Latin-1 Supplement,
    Latin Extended-A and -B and Latin Extended Additional (Vietnamese) whose Unicode canonical decomposition
    (NFD) is a base character followed only by combining marks, mapped to that base character. The table was
    written out from Python's unicodedata; the macro test checks it against DuckDB's strip_accents on every
    character of those blocks. Other scripts keep their accents (the name key drops them anyway).
#}
{% macro spark__fold_accents(text) -%}
    {%- set accented = [
        'ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆ',
        'ćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįİĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐő',
        'ŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛ',
        'ǜǞǟǠǡǢǣǦǧǨǩǪǫǬǭǮǯǰǴǵǸǹǺǻǼǽǾǿȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧ',
        'ȨȩȪȫȬȭȮȯȰȱȲȳḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯ',
        'ḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫ',
        'ṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẛẠạẢảẤấẦầẨẩẪẫẬ',
        'ậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨ',
        'ứỪừỬửỮữỰựỲỳỴỵỶỷỸỹ',
    ] -%}
    {%- set base = [
        'AAAAAACEEEEIIIINOOOOOUUUUYaaaaaaceeeeiiiinooooouuuuyyAaAaAaC',
        'cCcCcCcDdEeEeEeEeEeGgGgGgGgHhIiIiIiIiIJjKkLlLlLlNnNnNnOoOoOo',
        'RrRrRrSsSsSsSsTtTtUuUuUuUuUuUuWwYyYZzZzZzOoUuAaIiOoUuUuUuUuU',
        'uAaAaÆæGgKkOoOoƷʒjGgNnAaÆæØøAaAaEeEeIiIiOoOoRrRrUuUuSsTtHhAa',
        'EeOoOoOoOoYyAaBbBbBbCcDdDdDdDdDdEeEeEeEeEeFfGgHhHhHhHhHhIiIi',
        'KkKkKkLlLlLlLlMmMmMmNnNnNnNnOoOoOoOoPpPpRrRrRrRrSsSsSsSsSsTt',
        'TtTtTtUuUuUuUuUuVvVvWwWwWwWwWwXxXxYyZzZzZzhtwyſAaAaAaAaAaAaA',
        'aAaAaAaAaAaEeEeEeEeEeEeEeEeIiIiOoOoOoOoOoOoOoOoOoOoOoOoUuUuU',
        'uUuUuUuUuYyYyYyYy',
    ] -%}
    translate({{ text }}, '{{ accented | join("") }}', '{{ base | join("") }}')
{%- endmacro %}

{#
    A time stamp with zone as a UTC time stamp without zone. Every `_at` column downstream is UTC, so a
    reader never depends on its session's time zone.
#}
{% macro to_utc(column) -%}
    {{ return(adapter.dispatch('to_utc', 'ecrm')(column)) }}
{%- endmacro %}

{% macro duckdb__to_utc(column) -%}
    cast(({{ column }}) at time zone 'UTC' as timestamp)
{%- endmacro %}

{#
    A Spark TIMESTAMP_LTZ is an instant shown in the session's time zone: to_utc_timestamp shifts it so that the
    session shows the UTC wall clock, which the cast to TIMESTAMP_NTZ keeps, whatever the session's zone.
#}
{% macro spark__to_utc(column) -%}
    cast(to_utc_timestamp(cast({{ column }} as timestamp_ltz), current_timezone()) as timestamp_ntz)
{%- endmacro %}

{#
    The values of a group joined by `separator` in the order of `order_by` (ties in the order of the values
    themselves, so both engines give the same string); null values are skipped, a group of nulls gives null.
    dbt's listagg cannot order on Spark.
#}
{% macro ordered_string_agg(value, separator, order_by) -%}
    {{ return(adapter.dispatch('ordered_string_agg', 'ecrm')(value, separator, order_by)) }}
{%- endmacro %}

{% macro duckdb__ordered_string_agg(value, separator, order_by) -%}
    string_agg({{ value }}, {{ separator }} order by {{ order_by }}, {{ value }})
{%- endmacro %}

{% macro spark__ordered_string_agg(value, separator, order_by) -%}
    case when count({{ value }}) > 0 then array_join(
        transform(
            array_sort(collect_list(named_struct('sort_key', {{ order_by }}, 'value', {{ value }}))),
            agg_item -> agg_item.value
        ),
        {{ separator }}
    ) end
{%- endmacro %}

{#
    The `part`-th piece (from 1; from the end when negative) of `text` cut at every `delimiter` (a plain
    string, not a pattern); an empty string past the last piece. Both engines have split_part with these
    semantics, `part` a column or a number; dbt's split_part takes only a number on Spark.
#}
{% macro split_piece(text, delimiter, part) -%}
    {{ return(adapter.dispatch('split_piece', 'ecrm')(text, delimiter, part)) }}
{%- endmacro %}

{% macro default__split_piece(text, delimiter, part) -%}
    split_part({{ text }}, {{ delimiter }}, {{ part }})
{%- endmacro %}

{# True when `a` and `b` are at most one edit apart: a letter inserted, dropped, changed, or two adjacent
   letters swapped (Damerau-Levenshtein distance, optimal string alignment, at most 1). #}
{% macro within_one_edit(a, b) -%}
    {{ return(adapter.dispatch('within_one_edit', 'ecrm')(a, b)) }}
{%- endmacro %}

{% macro duckdb__within_one_edit(a, b) -%}
    damerau_levenshtein({{ a }}, {{ b }}) <= 1
{%- endmacro %}

{# Spark has levenshtein (no swaps): one swap of adjacent letters is checked position by position. #}
{% macro spark__within_one_edit(a, b) -%}
    (
        levenshtein({{ a }}, {{ b }}) <= 1
        or (
            length({{ a }}) = length({{ b }}) and length({{ a }}) >= 2
            and exists(sequence(1, length({{ a }}) - 1), swap_at ->
                substr({{ a }}, 1, swap_at - 1) = substr({{ b }}, 1, swap_at - 1)
                and substr({{ a }}, swap_at, 1) = substr({{ b }}, swap_at + 1, 1)
                and substr({{ a }}, swap_at + 1, 1) = substr({{ b }}, swap_at, 1)
                and substr({{ a }}, swap_at + 2) = substr({{ b }}, swap_at + 2))
        )
    )
{%- endmacro %}

{#
    Jaro-Winkler similarity of `a` and `b`, from 0 to 1 (Winkler 1990, "String comparator metrics and
    enhanced decision rules in the Fellegi-Sunter model of record linkage"): the Jaro similarity of the
    characters matched within half the longer length, raised by 0.1 per common leading character (at most 4)
    when it exceeds 0.7.
#}
{% macro jaro_winkler(a, b) -%}
    {{ return(adapter.dispatch('jaro_winkler', 'ecrm')(a, b)) }}
{%- endmacro %}

{% macro duckdb__jaro_winkler(a, b) -%}
    jaro_winkler_similarity({{ a }}, {{ b }})
{%- endmacro %}

{#
    Spark SQL has no Jaro-Winkler, and a Python function would not run on a Thrift or Connect cluster, so it
    is written out with higher-order functions. `aggregate` walks the characters of `a` in order, each taking
    the first character of `b` inside the window that is equal and not yet taken (`jw_walk.taken` marks
    `b`'s taken positions with 1, `jw_walk.matched` holds `a`'s matched characters); half the positions where
    the matched characters of `a` and of `b` (in `b`'s order) differ are the transpositions. A one-element
    `transform(array(x), name -> ...)[0]` names an intermediate result so it is computed once.
#}
{% macro spark__jaro_winkler(a, b) -%}
    {%- set window -%} greatest(floor(greatest(length({{ a }}), length({{ b }})) / 2) - 1, 0) {%- endset -%}
    {%- set first_free -%}
        try_element_at(filter(sequence(1, greatest(length({{ b }}), 1)), jw_j ->
            jw_j <= length({{ b }}) and abs(jw_j - jw_i) <= {{ window }}
            and substr(jw_walk.taken, jw_j, 1) = '0' and substr({{ b }}, jw_j, 1) = substr({{ a }}, jw_i, 1)), 1)
    {%- endset -%}
    {%- set walk -%}
        aggregate(
            sequence(1, greatest(length({{ a }}), 1)),
            named_struct('taken', repeat('0', length({{ b }})), 'matched', ''),
            (jw_walk, jw_i) -> if(
                jw_i > length({{ a }}) or {{ first_free }} is null,
                jw_walk,
                named_struct(
                    'taken', overlay(jw_walk.taken placing '1' from {{ first_free }} for 1),
                    'matched', concat(jw_walk.matched, substr({{ a }}, jw_i, 1))
                )
            )
        )
    {%- endset -%}
    {%- set matched -%}
        transform(array({{ walk }}), jw_walk -> named_struct(
            'm', length(jw_walk.matched),
            'in_a', jw_walk.matched,
            'in_b', array_join(transform(sequence(1, greatest(length({{ b }}), 1)), jw_k ->
                if(substr(jw_walk.taken, jw_k, 1) = '1', substr({{ b }}, jw_k, 1), null)), '')
        ))[0]
    {%- endset -%}
    {%- set jaro -%}
        transform(array({{ matched }}), jw_match -> case
            when jw_match.m = 0 then cast(0 as double)
            else (
                jw_match.m / length({{ a }}) + jw_match.m / length({{ b }})
                + (jw_match.m - floor(size(filter(sequence(1, greatest(jw_match.m, 1)), jw_k ->
                    jw_k <= jw_match.m and substr(jw_match.in_a, jw_k, 1) != substr(jw_match.in_b, jw_k, 1)))
                    / 2)) / jw_match.m
            ) / 3
        end)[0]
    {%- endset -%}
    {%- set shorter -%} least(4, length({{ a }}), length({{ b }})) {%- endset -%}
    {%- set prefix -%}
        coalesce(try_element_at(filter(sequence(1, greatest({{ shorter }}, 1)), jw_k ->
            jw_k <= {{ shorter }} and substr({{ a }}, jw_k, 1) != substr({{ b }}, jw_k, 1)), 1) - 1, {{ shorter }})
    {%- endset -%}
    case
        when {{ a }} is null or {{ b }} is null then cast(null as double)
        when length({{ a }}) = 0 or length({{ b }}) = 0 then cast(0 as double)
        else transform(array({{ jaro }}), jw_jaro ->
            if(jw_jaro > 0.7, jw_jaro + {{ prefix }} * 0.1 * (1 - jw_jaro), jw_jaro))[0]
    end
{%- endmacro %}

{#
    The connected components of an undirected graph: one row (node_key, component_key) per node of `nodes`
    (a relation with node_key), where component_key is the smallest node_key of the node's component.
    `adjacency` holds (node_key, neighbour_key) in both directions. Emits a complete query, to be used as
    the body of a CTE.
#}
{% macro connected_components(nodes, adjacency) -%}
    {{ return(adapter.dispatch('connected_components', 'ecrm')(nodes, adjacency)) }}
{%- endmacro %}

{#
    DuckDB: a recursive walk, (node, root) for every root that reaches the node. UNION (not UNION ALL) drops
    pairs already found, so the walk stops once no new pair appears, whatever the component's diameter.
    The recursive CTE is nested in the query rather than at the top of the model so that dbt can prepend
    its own CTEs (unit-test fixtures).
#}
{% macro duckdb__connected_components(nodes, adjacency) -%}
    with recursive walk (node_key, root_key) as (

        select
            node_key,
            node_key as root_key
        from {{ nodes }}

        union

        select
            adjacency.neighbour_key,
            walk.root_key
        from walk
        inner join {{ adjacency }} as adjacency on walk.node_key = adjacency.node_key

    )

    select
        node_key,
        min(root_key) as component_key
    from walk
    group by node_key
{%- endmacro %}

{#
    Spark's recursive CTEs take UNION ALL only, which never stops on a graph with cycles, so the smallest
    key is propagated instead: each round gives every node the smallest key among itself and its
    neighbours. After d rounds every node holds the smallest key within d steps, so `identity_max_component_size`
    - 1 rounds settle every component of up to that many nodes (its diameter is smaller). A larger component
    may keep more than one key: the test assert_identity_edges_join_one_customer then fails the build.
    Spark inlines every CTE into each place that reads it, so a round reads the previous round once and
    `nodes` not at all (a node's own key reaches it through a self-loop added to `adjacency`; nodes without
    edges keep their own key at the end): the query grows by one small join per round instead of doubling.
#}
{% macro spark__connected_components(nodes, adjacency) -%}
    {%- set rounds = [var('identity_max_component_size') | int - 1, 1] | max -%}
    with

    adjacency_and_self as (
        select node_key, neighbour_key from {{ adjacency }}
        union all
        select node_key, node_key as neighbour_key from {{ adjacency }}
    ),

    propagated_0 as (
        select node_key, node_key as component_key from {{ nodes }}
    ),

    {%- for round in range(1, rounds + 1) %}

    propagated_{{ round }} as (
        select
            adjacency_and_self.neighbour_key as node_key,
            min(previous.component_key) as component_key
        from propagated_{{ round - 1 }} as previous
        inner join adjacency_and_self on previous.node_key = adjacency_and_self.node_key
        group by adjacency_and_self.neighbour_key
    ),
    {%- endfor %}

    without_edges as (
        select node_key, node_key as component_key from {{ nodes }}
        where node_key not in (select node_key from {{ adjacency }})
    )

    select node_key, component_key from propagated_{{ rounds }}
    union all
    select node_key, component_key from without_edges
{%- endmacro %}

{# The ISO day of the week of a time stamp: 1 = Monday … 7 = Sunday. #}
{% macro iso_weekday(stamp) -%}
    {{ return(adapter.dispatch('iso_weekday', 'ecrm')(stamp)) }}
{%- endmacro %}

{% macro duckdb__iso_weekday(stamp) -%}
    extract(isodow from {{ stamp }})
{%- endmacro %}

{% macro spark__iso_weekday(stamp) -%}
    extract(dayofweek_iso from {{ stamp }})
{%- endmacro %}

{#
    A table function for a lateral join: one row per month step from `start` to `stop` (both included),
    `months` months apart.
#}
{% macro month_series(start, stop, months) -%}
    {{ return(adapter.dispatch('month_series', 'ecrm')(start, stop, months)) }}
{%- endmacro %}

{% macro duckdb__month_series(start, stop, months) -%}
    unnest(generate_series({{ start }}, {{ stop }}, to_months({{ months }})))
{%- endmacro %}

{% macro spark__month_series(start, stop, months) -%}
    explode(sequence({{ start }}, {{ stop }}, make_ym_interval(0, {{ months }})))
{%- endmacro %}

{#
    dbt's own dateadd and date_trunc, replaced on Spark (a root project's `spark__` macro wins over
    dbt-spark's for `dbt.dateadd` and `dbt.date_trunc`). The warehouse's time stamps are Spark's TIMESTAMP_NTZ
    (UTC wall clock, like DuckDB's TIMESTAMP; the profile sets spark.sql.timestampType), and there
    dbt-spark's dateadd, which goes through to_unix_timestamp and back, returns NULL without an error, and
    Spark's date_trunc returns a zoned TIMESTAMP. timestampadd keeps its argument's type.
#}
{% macro spark__dateadd(datepart, interval, from_date_or_timestamp) -%}
    timestampadd({{ datepart | upper }}, cast({{ interval }} as bigint), {{ from_date_or_timestamp }})
{%- endmacro %}

{% macro spark__date_trunc(datepart, date) -%}
    cast(date_trunc('{{ datepart }}', {{ date }}) as timestamp_ntz)
{%- endmacro %}
