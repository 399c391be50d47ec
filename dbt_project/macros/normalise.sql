{#
    Normalisation of values typed by people (e-mails, names, phones) and of time stamps. Used by staging so
    that every later layer compares like with like. What differs between DuckDB and Spark (white space, accents,
    time zones) is in macros/portable.sql.
#}

{# Trimmed, lower-cased e-mail; empty strings become null. The contract already checked the syntax. #}
{% macro normalise_email(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}

{# A name as typed, with outer spaces removed and inner runs of white space collapsed to one space. #}
{% macro normalise_name(column) -%}
    nullif({{ collapse_whitespace('trim(' ~ column ~ ')') }}, '')
{%- endmacro %}

{#
    A comparison key for a name: lower case, accents folded (Müller = Muller), everything that is not a
    letter removed (hyphens, apostrophes, spaces: "De Luca" = "deluca"). Used for matching only, never shown.
#}
{% macro name_key(column) -%}
    nullif({{ ascii_letters_only('lower(' ~ fold_accents('trim(' ~ column ~ ')') ~ ')') }}, '')
{%- endmacro %}

{#
    Rank of each version of a snapshot record, 1 = the one that wins: the latest change (when the contract
    has a version column), then the latest load, then the file that sorts last (exports are named by date).
    Snapshot entities keep every export's version in raw; every staging model picks the same way.
#}
{% macro version_rank(key, version_column=none) -%}
    row_number() over (
        partition by {{ key }}
        order by {% if version_column %}{{ version_column }} desc, {% endif %}_loaded_at desc, _source_file desc
    )
{%- endmacro %}
