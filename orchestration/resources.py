"""Dagster resources: declared once, configured from the environment, injected by parameter name."""

from pathlib import Path

import dagster as dg

from orchestration import settings, warehouse


class WarehouseResource(dg.ConfigurableResource):
    """The DuckDB warehouse file (``ECRM_WAREHOUSE``) and its published read-only copy."""

    path: str
    published_path: str

    def connect(self, read_only: bool = False):
        """Context-managed DuckDB connection to the warehouse."""
        return warehouse.connect(Path(self.path), read_only=read_only)


class LandingResource(dg.ConfigurableResource):
    """The landing folder (``ECRM_LANDING``) holding ``<source>/<entity>/`` files."""

    path: str


def default_resources() -> dict:
    """Resources for the given environment (with the demo defaults)."""
    from dagster_dbt import DbtCliResource

    wh = settings.warehouse_path()
    return {
        "warehouse": WarehouseResource(path=str(wh), published_path=str(settings.published_path(wh))),
        "landing": LandingResource(path=str(settings.landing_path())),
        "dbt": DbtCliResource(
            project_dir=str(settings.DBT_PROJECT_DIR),
            profiles_dir=str(settings.DBT_PROJECT_DIR),
            dbt_executable=settings.dbt_executable(),
        ),
    }
