{#
    The project's sources on Spark (`ecrm run --engine spark`): every table of sources.yml is registered in
    Spark's catalogue over its Parquet folder `<ECRM_SPARK_LAKE>/<schema>/<table>`, which the pipeline writes
    from the checked raw data before each build (orchestration/engines.py). Runs as an on-run-start hook, so
    every dbt invocation reads the files as they are now: a table is dropped and created again (dropping a
    table over a location removes the catalogue entry, not the files), which also picks up a column a newer
    release added and the month folders of a partitioned table. On DuckDB the sources are the loader's own
    tables and nothing is registered.
#}
{% macro register_lake_sources() -%}
    {{ return(adapter.dispatch('register_lake_sources', 'ecrm')()) }}
{%- endmacro %}

{% macro default__register_lake_sources() -%}
{%- endmacro %}

{% macro spark__register_lake_sources() -%}
    {%- if execute -%}
        {%- set lake = env_var('ECRM_SPARK_LAKE', '') -%}
        {%- if not lake -%}
            {{ exceptions.raise_compiler_error(
                "ECRM_SPARK_LAKE is not set: `ecrm run --engine spark` sets it to the folder of Parquet sources") }}
        {%- endif -%}
        {%- set sources = graph.sources.values() | sort(attribute='unique_id') -%}
        {%- for schema in sources | map(attribute='schema') | unique -%}
            {%- do run_query('create database if not exists ' ~ schema) -%}
        {%- endfor -%}
        {%- for source in sources -%}
            {%- set relation = source.schema ~ '.' ~ source.identifier -%}
            {%- do run_query('drop table if exists ' ~ relation) -%}
            {%- do run_query("create table " ~ relation ~ " using parquet location '"
                ~ lake ~ "/" ~ source.schema ~ "/" ~ source.identifier ~ "'") -%}
            {#- A table over month folders is created without its partitions: list them in the catalogue. -#}
            {%- set described = run_query('describe table ' ~ relation).columns[0].values() -%}
            {%- if '# Partition Information' in described -%}
                {%- do run_query('msck repair table ' ~ relation) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
