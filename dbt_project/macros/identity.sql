{#
    Rules of identity resolution that more than one model applies. Why each rule exists is written in
    DECISIONLOG.md ("How a customer is identified") and in models/intermediate/identity/_identity__models.yml.
#}

{#
    An e-mail nobody really owns: typed to get past a mandatory field. Such an address links unrelated
    people, so it never matches anything. The list catches the common forms; the degree guard
    (`identity_max_holders`) catches the rest.
#}
{% macro is_placeholder_email(email) -%}
    (
        {{ email }} in ('test@test.com', 'noemail@example.com', 'none@none.com', 'no@email.com',
                        'na@na.com', 'x@x.com', 'a@a.com', 'email@email.com', 'info@example.com')
        or {{ split_piece(email, "'@'", 1) }} in ('test', 'noemail', 'no-email', 'no.email', 'none', 'noreply',
                                               'no-reply', 'donotreply', 'dummy', 'fake', 'null', 'unknown',
                                               'keine', 'nomail', 'no', 'na', 'xxx', 'asdf')
        or {{ split_piece(email, "'@'", 2) }} in ('example.com', 'example.org', 'example.net', 'test.com',
                                               'test.de', 'none.com', 'noemail.com', 'nomail.com',
                                               'mailinator.com', 'invalid')
    )
{%- endmacro %}

{#
    A phone nobody really owns: the last seven digits all equal (0000000000 becomes +49000000000) or a
    straight sequence (0123456789, 987654321). A real subscriber number essentially never ends in seven
    equal digits, while runs inside a number (+49 151 0000001) are ordinary and not flagged.
#}
{% macro is_placeholder_phone(phone_e164) -%}
    (
        right({{ phone_e164 }}, 7) in (
            {%- for d in range(10) %}'{{ (d | string) * 7 }}'{{ ', ' if not loop.last }}{% endfor -%}
        )
        or {{ phone_e164 }} like '%123456789%'
        or {{ phone_e164 }} like '%987654321%'
    )
{%- endmacro %}

{#
    Two name keys (see name_key) are the same name when equal, when one is the other's initial, when one
    typing slip apart (Damerau-Levenshtein distance 1: a swapped, dropped, doubled or wrong letter, e.g.
    Uwe/Uew, Vos/Vs) or when their Jaro-Winkler similarity reaches `identity_name_similarity`
    (Meyer/Meier/Maier-like variants). Jaro-Winkler (Winkler 1990, "String comparator metrics and enhanced
    decision rules in the Fellegi-Sunter model of record linkage") is the comparator record linkage uses for
    short names; the edit distance covers the very short names where one slip costs too much similarity.
    within_one_edit and jaro_winkler are in macros/portable.sql (Spark has neither built in).
#}
{% macro names_similar(a, b) -%}
    (
        {{ a }} = {{ b }}
        or (length({{ a }}) = 1 and left({{ b }}, 1) = {{ a }})
        or (length({{ b }}) = 1 and left({{ a }}, 1) = {{ b }})
        or {{ within_one_edit(a, b) }}
        or {{ jaro_winkler(a, b) }} >= {{ var('identity_name_similarity') }}
    )
{%- endmacro %}

{#
    Two named records can be one person: first and last names both similar, or both similar after swapping
    the fields (first name typed into the last-name box). Records without both names are not "named" and
    never reach this test.
#}
{% macro names_compatible(a_first, a_last, b_first, b_last) -%}
    (
        ({{ names_similar(a_first, b_first) }} and {{ names_similar(a_last, b_last) }})
        or ({{ names_similar(a_first, b_last) }} and {{ names_similar(a_last, b_first) }})
    )
{%- endmacro %}

{#
    The stable customer id of a connected component: a hash of its smallest member key. The same data
    always gives the same ids; see DECISIONLOG.md for when an id can change.
#}
{% macro customer_id_from_key(key) -%}
    'cus_' || substr({{ dbt.hash(key) }}, 1, 16)
{%- endmacro %}
