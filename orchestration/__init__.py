"""ecrm: the e-commerce customer warehouse.

``orchestration.analytics`` holds plain analytics functions (no Dagster import);
``orchestration.assets`` wraps them as Dagster assets; ``orchestration.definitions``
is the single Dagster ``Definitions`` object.
"""

__version__ = "0.1.0"
