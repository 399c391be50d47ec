"""The engines dbt builds the warehouse on, and the moves of tables between the DuckDB file and Spark.

DuckDB (the default) builds inside the warehouse file. With ``ecrm run --engine spark`` dbt-spark builds
the same project on Apache Spark; the DuckDB file keeps every other role on both engines: the loader
writes the checked raw, quarantine and ops tables there, the Python models read marts and write ``ml``
there, and it is what is published for dashboards and notebooks. So on Spark each dbt build is framed by
two moves, both done by DuckDB's own Parquet reader and writer:

- before: :func:`export_to_lake` writes the source tables as Parquet, one folder per table under the lake
  (``ECRM_SPARK_LAKE``), the large web tables partitioned by month; dbt registers them in Spark's catalogue
  as it starts (``dbt_project/macros/spark_sources.sql``);
- after: :func:`import_from_spark` reads the tables Spark built (Parquet in ``ECRM_SPARK_WAREHOUSE``) back
  into the file, under the same schema and name, so readers see the Spark marts.

DECISIONLOG.md ("The same warehouse on Spark") gives the reasons.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from orchestration import settings

# The dbt target (dbt_project/profiles.yml) of each engine.
DBT_TARGETS = {"duckdb": "dev", "spark": "spark"}

# The schemas written to the lake: what dbt reads (raw, ops, ml) and the quarantine beside it.
LAKE_SCHEMAS = ("raw", "quarantine", "ops", "ml")

# Tables written in one folder per month of a time column (`_month=YYYY-MM`): the web tables hold most of
# the rows, and a month is the unit a large shop reloads or a query prunes.
PARTITIONED_BY_MONTH = {"raw.web__events": "event_at", "raw.web__sessions": "started_at"}
PARTITION_COLUMN = "_month"

# dbt materialisations that leave a table behind (a view holds no data to read back).
TABLE_MATERIALIZATIONS = ("table", "incremental")


def dbt_target(engine: str) -> str:
    """The profile target dbt builds with on ``engine`` (``duckdb`` or ``spark``).

    On Spark, ``ECRM_SPARK_TARGET`` names another output of ``dbt_project/profiles.yml`` (a cluster's, e.g.
    ``spark_cluster``) in place of ``spark``, PySpark on this machine.
    """
    try:
        target = DBT_TARGETS[engine]
    except KeyError:
        raise ValueError(f"unknown engine {engine!r}: one of {', '.join(DBT_TARGETS)}") from None
    if engine == "spark":
        return settings.spark_dbt_target() or target
    return target


def spark_unavailable() -> str | None:
    """Why a Spark build cannot run on this machine (dbt-spark, PySpark or a Java runtime missing), or None."""
    import importlib.util
    import os

    missing = [m for m in ("pyspark", "dbt.adapters.spark") if importlib.util.find_spec(m) is None]
    if missing:
        return f"{' and '.join(missing)} not installed: pip install 'ecrm[spark]' (make install-dev does)"
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "no Java runtime (17 or later): `make java` installs Debian's openjdk-17-jre-headless"
    return None


def lake_folder(lake: Path, schema: str, table: str) -> Path:
    """The Parquet folder of one source table in the lake."""
    return lake / schema / table


def export_to_lake(
    con: duckdb.DuckDBPyConnection, lake: Path, schemas: tuple[str, ...] = LAKE_SCHEMAS
) -> dict[str, int]:
    """Write every table of ``schemas`` in the warehouse as Parquet under ``lake``; return rows per table.

    Each table replaces its folder whole: it is written to ``<table>.tmp`` first and swapped in by renames,
    so a reader never sees half a table, and a table emptied since the last export leaves no old rows.
    Tables in :data:`PARTITIONED_BY_MONTH` are written in one sub-folder per month of their UTC time
    (``_month=2024-03``), unless empty (one file then carries the columns, as Spark needs at least one).
    """
    placeholders = ", ".join("?" for _ in schemas)
    tables = con.execute(
        "select table_schema, table_name from information_schema.tables "
        f"where table_type = 'BASE TABLE' and table_schema in ({placeholders}) order by 1, 2",
        list(schemas),
    ).fetchall()
    rows = {}
    for schema, table in tables:
        name = f"{schema}.{table}"
        folder = lake_folder(lake, schema, table)
        tmp = folder.with_name(table + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.parent.mkdir(parents=True, exist_ok=True)
        rows[name] = int(con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0])
        column = PARTITIONED_BY_MONTH.get(name)
        if column and rows[name]:
            con.execute(
                f"copy (select *, strftime(\"{column}\", '%Y-%m') as {PARTITION_COLUMN} "
                f'from "{schema}"."{table}") to \'{tmp}\' (format parquet, partition_by ({PARTITION_COLUMN}))'
            )
        else:
            tmp.mkdir()
            con.execute(f'copy "{schema}"."{table}" to \'{tmp / "part-0.parquet"}\' (format parquet)')
        _swap_in(tmp, folder)
    return rows


def _swap_in(new: Path, folder: Path) -> None:
    """Put the folder ``new`` in the place of ``folder``: two renames, the old one removed after."""
    old = folder.with_name(folder.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if folder.exists():
        folder.rename(old)
    new.rename(folder)
    shutil.rmtree(old, ignore_errors=True)


def spark_table_folder(spark_warehouse: Path, schema: str, table: str) -> Path:
    """Where Spark keeps a managed table of ``schema`` (a database): ``<warehouse>/<schema>.db/<table>``."""
    return spark_warehouse / f"{schema}.db" / table


def built_tables(target_path: Path) -> list[tuple[str, str]]:
    """The (schema, name) of every table a dbt invocation built successfully, from its ``run_results.json``
    and ``manifest.json`` in ``target_path``; views are left out (they hold no data)."""
    manifest = json.loads((target_path / "manifest.json").read_text())["nodes"]
    results = json.loads((target_path / "run_results.json").read_text())["results"]
    tables = []
    for result in results:
        node = manifest.get(result["unique_id"])
        if (
            node
            and node["resource_type"] == "model"
            and result["status"] == "success"
            and node["config"]["materialized"] in TABLE_MATERIALIZATIONS
        ):
            tables.append((node["schema"], node["alias"] or node["name"]))
    return sorted(tables)


def import_from_spark(
    con: duckdb.DuckDBPyConnection, spark_warehouse: Path, tables: list[tuple[str, str]]
) -> dict[str, int]:
    """Replace each of ``tables`` in the warehouse with the rows Spark built; return rows per table.

    Spark writes a managed table as Parquet part files; they are read as they are, so the columns keep the
    types of the mart contracts (Spark's ``timestamp_ntz`` becomes DuckDB's ``timestamp``, as on DuckDB).
    """
    rows = {}
    for schema, table in tables:
        folder = spark_table_folder(spark_warehouse, schema, table)
        files = sorted(folder.glob("*.parquet"))
        if not files:
            raise FileNotFoundError(f"Spark built {schema}.{table} but no Parquet file of it is in {folder}")
        listed = ", ".join(f"'{f}'" for f in files)
        con.execute(f'create schema if not exists "{schema}"')
        con.execute(f'create or replace table "{schema}"."{table}" as select * from read_parquet([{listed}])')
        rows[f"{schema}.{table}"] = int(
            con.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
        )
    return rows
