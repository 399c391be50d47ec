"""Dagster assets: thin wrappers over ``orchestration.loading``, dbt and ``orchestration.analytics``."""
