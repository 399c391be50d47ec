{#
    Normalisation of values typed by people (e-mails, names, phones) and of time stamps. Used by staging so
    that every later layer compares like with like. DuckDB functions (regexp_replace with the 'g' flag,
    strip_accents) are used here, in staging only, and are kept inside these macros so another engine needs
    one new implementation per macro, not edits across models.
#}

{# Trimmed, lower-cased e-mail; empty strings become null. The contract already checked the syntax. #}
{% macro normalise_email(column) -%}
    nullif(lower(trim({{ column }})), '')
{%- endmacro %}

{# A name as typed, with outer spaces removed and inner runs of white space collapsed to one space. #}
{% macro normalise_name(column) -%}
    nullif(regexp_replace(trim({{ column }}), '\s+', ' ', 'g'), '')
{%- endmacro %}

{#
    A comparison key for a name: lower case, accents folded (Müller = Muller), everything that is not a
    letter removed (hyphens, apostrophes, spaces: "De Luca" = "deluca"). Used for matching only, never shown.
#}
{% macro name_key(column) -%}
    nullif(regexp_replace(lower(strip_accents(trim({{ column }}))), '[^a-z]', '', 'g'), '')
{%- endmacro %}

{#
    A time stamp with zone as a UTC time stamp without zone. Every `_at` column downstream is UTC, so a
    reader never depends on its session's time zone.
#}
{% macro to_utc(column) -%}
    cast(({{ column }}) at time zone 'UTC' as timestamp)
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
