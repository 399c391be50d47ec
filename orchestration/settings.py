"""The one place configuration is read from the environment.

Every path and threshold has a documented default that works for the bundled demo, so a shop with no data
team needs to set nothing. Plain functions elsewhere take these values as arguments.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"
DASHBOARD_APP = PROJECT_ROOT / "dashboards" / "app.py"

DEFAULTS = {
    "ECRM_LANDING": "data/landing",
    "ECRM_WAREHOUSE": "data/warehouse/ecrm.duckdb",
    "ECRM_EXPORTS": "data/exports",
    "ECRM_AUDIENCES": "data/audiences",
    "ECRM_AUDIT_LOG": "data/audit/access.jsonl",
}


def _path(name: str) -> Path:
    value = os.environ.get(name) or DEFAULTS[name]
    path = Path(value)
    return path if path.is_absolute() else (Path.cwd() / path).resolve()


def landing_path() -> Path:
    """Landing folder (``ECRM_LANDING``, default ``data/landing``)."""
    return _path("ECRM_LANDING")


def warehouse_path() -> Path:
    """The DuckDB warehouse file the pipeline writes (``ECRM_WAREHOUSE``, default ``data/warehouse/ecrm.duckdb``)."""
    return _path("ECRM_WAREHOUSE")


def published_path(warehouse: Path | None = None) -> Path:
    """The read-only copy dashboards and notebooks read (``ECRM_PUBLISHED``, default beside the warehouse)."""
    if os.environ.get("ECRM_PUBLISHED"):
        return Path(os.environ["ECRM_PUBLISHED"]).resolve()
    warehouse = warehouse or warehouse_path()
    return warehouse.with_name(warehouse.stem + "_published" + warehouse.suffix)


def exports_path() -> Path:
    """Where audience exports are written (``ECRM_EXPORTS``, default ``data/exports``)."""
    return _path("ECRM_EXPORTS")


def audiences_path() -> Path:
    """Where saved audiences are kept, one ``<name>.yml`` each (``ECRM_AUDIENCES``, default ``data/audiences``)."""
    return _path("ECRM_AUDIENCES")


def audit_log_path() -> Path:
    """The append-only JSON-lines log of customer lookups and exports (``ECRM_AUDIT_LOG``, default
    ``data/audit/access.jsonl``)."""
    return _path("ECRM_AUDIT_LOG")


def dashboard_role() -> str:
    """The dashboard's role (``ecrm dashboard --role`` / ``ECRM_DASHBOARD_ROLE``): ``analyst`` sees e-mail
    addresses and phone numbers in clear; anything else, or nothing, is ``manager``, who sees them masked."""
    value = (os.environ.get("ECRM_DASHBOARD_ROLE") or "manager").strip().lower()
    return value if value in ("manager", "analyst") else "manager"


def dashboard_user() -> str | None:
    """Who uses the dashboard, for the audit log (``ecrm dashboard --user`` / ``ECRM_DASHBOARD_USER``)."""
    return (os.environ.get("ECRM_DASHBOARD_USER") or "").strip() or None


ENGINES = ("duckdb", "spark")


def engine() -> str:
    """The engine dbt builds the warehouse on (``ecrm run --engine`` / ``ECRM_ENGINE``): ``duckdb`` (default,
    the embedded file) or ``spark`` (dbt-spark; see README "Scaling out")."""
    value = (os.environ.get("ECRM_ENGINE") or "duckdb").strip().lower()
    if value not in ENGINES:
        raise ValueError(f"ECRM_ENGINE must be one of {', '.join(ENGINES)}, got {value!r}")
    return value


def spark_dbt_target() -> str | None:
    """The output of ``dbt_project/profiles.yml`` a Spark build uses in place of ``spark`` (PySpark on this
    machine), e.g. a cluster's ``spark_cluster`` (``ECRM_SPARK_TARGET``); None when not set."""
    return os.environ.get("ECRM_SPARK_TARGET") or None


def spark_lake_path(warehouse: Path | None = None) -> Path:
    """Where the Spark build reads its sources: the checked raw, quarantine, ops and ml tables as Parquet,
    one folder per table (``ECRM_SPARK_LAKE``, default ``spark/lake`` beside the warehouse file)."""
    return _spark_folder("ECRM_SPARK_LAKE", "lake", warehouse)


def spark_warehouse_dir(warehouse: Path | None = None) -> Path:
    """Spark's own warehouse (``spark.sql.warehouse.dir``): the tables dbt-spark builds, as Parquet, and its
    catalogue (``ECRM_SPARK_WAREHOUSE``, default ``spark/warehouse`` beside the warehouse file)."""
    return _spark_folder("ECRM_SPARK_WAREHOUSE", "warehouse", warehouse)


def _spark_folder(variable: str, name: str, warehouse: Path | None) -> Path:
    """The folder ``variable`` names, else ``spark/<name>`` beside the warehouse file."""
    if os.environ.get(variable):
        return Path(os.environ[variable]).resolve()
    return (warehouse or warehouse_path()).parent / "spark" / name


def dbt_executable() -> str:
    """The dbt installed beside this Python (so an unactivated virtualenv works), else ``dbt`` on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"


def model_eligibility() -> dict[str, int]:
    """Minimum history before the customer models predict anything, like the leading commercial tools.

    ``ECRM_MIN_REPEAT_CUSTOMERS`` (default 500 customers with two or more orders) and
    ``ECRM_MIN_HISTORY_DAYS`` (default 180 days between the first and the last order).
    """
    return {
        "min_repeat_customers": int(os.environ.get("ECRM_MIN_REPEAT_CUSTOMERS", 500)),
        "min_history_days": int(os.environ.get("ECRM_MIN_HISTORY_DAYS", 180)),
    }


def clv_annual_discount_rate() -> float:
    """The annual rate every customer lifetime value is discounted by (``ECRM_CLV_ANNUAL_DISCOUNT_RATE``,
    default 0.10 = 10 % a year; the CLV sums discount month by month at (1 + rate)^(1/12) − 1)."""
    value = os.environ.get("ECRM_CLV_ANNUAL_DISCOUNT_RATE")
    try:
        rate = float(value) if value else 0.10
    except ValueError:
        raise ValueError(
            f"ECRM_CLV_ANNUAL_DISCOUNT_RATE must be a fraction such as 0.1, got {value!r}"
        ) from None
    if not 0 <= rate < 1:
        raise ValueError(f"ECRM_CLV_ANNUAL_DISCOUNT_RATE must be a fraction between 0 and 1, got {value!r}")
    return rate


def purchase_model() -> str:
    """The customer models' purchase model (``ECRM_PURCHASE_MODEL``): ``auto`` (default: BG/NBD or
    Pareto/NBD, whichever predicts the held-out last 90 days better), ``bgnbd`` or ``pareto_nbd``."""
    value = (os.environ.get("ECRM_PURCHASE_MODEL") or "auto").strip().lower()
    if value not in ("auto", "bgnbd", "pareto_nbd"):
        raise ValueError(f"ECRM_PURCHASE_MODEL must be auto, bgnbd or pareto_nbd, got {value!r}")
    return value


def landing_settle_seconds() -> float:
    """How long a landing file must have gone unmodified before the sensor ``new_landing_files`` starts a
    run for it (``ECRM_LANDING_SETTLE_SECONDS``, default 60 s): a file still being copied or uploaded is
    modified all the time, so it waits until it is whole."""
    return float(os.environ.get("ECRM_LANDING_SETTLE_SECONDS", 60))


def default_phone_country() -> str:
    """Country whose numbering plan reads a phone number of a record without a country
    (``ECRM_DEFAULT_PHONE_COUNTRY``, ISO 3166-1 alpha-2, default ``DE``, the demo shop's home market).

    Numbers written internationally (``+44 …``, ``00 44 …``) do not need it.
    """
    return (os.environ.get("ECRM_DEFAULT_PHONE_COUNTRY") or "DE").strip().upper()


def quiet_telemetry() -> None:
    """Turn off every usage report that phones home; start-up can hang on a closed network otherwise."""
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "False")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    os.environ.setdefault("STREAMLIT_BROWSER_GATHER_USAGE_STATS", "false")
    os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / ".dagster_home"))
