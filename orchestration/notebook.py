"""What the notebooks in ``notebooks/`` share: a read-only connection to the published warehouse and the
reference data sets.

The published copy is found from the same configuration as the pipeline (:mod:`orchestration.settings`:
``ECRM_PUBLISHED``, else beside ``ECRM_WAREHOUSE``, else ``data/warehouse/ecrm_published.duckdb``). Jupyter
starts a notebook's kernel in ``notebooks/``, while ``make demo`` writes the default paths relative to the
project root, so when neither variable is set the default is also looked for under the project root.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration import settings

__all__ = ["REFERENCE_DATASETS", "basket_thresholds", "connect", "published_warehouse", "reference_dataset"]

# Real data sets for the reference results, kept beside the repository (never copied into it).
REFERENCE_DATASETS = settings.PROJECT_ROOT.parent / "shared" / "datasets"


def published_warehouse() -> Path:
    """The published, read-only copy of the warehouse the dashboards read.

    Raises ``FileNotFoundError`` saying how to build it when it does not exist.
    """
    configured = settings.published_path()
    candidates = [configured]
    here_default = settings.published_path((Path.cwd() / settings.DEFAULTS["ECRM_WAREHOUSE"]).resolve())
    if configured == here_default:
        # Nothing configured: the demo's default, relative to the project root rather than to notebooks/.
        candidates.append(
            settings.published_path(settings.PROJECT_ROOT / settings.DEFAULTS["ECRM_WAREHOUSE"])
        )
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"No published warehouse at {' or '.join(str(p) for p in dict.fromkeys(candidates))}. Run `make demo` "
        "(or `ecrm run` on your own landing files) first, or set ECRM_PUBLISHED to a published copy."
    )


def connect() -> duckdb.DuckDBPyConnection:
    """A read-only DuckDB connection to :func:`published_warehouse`: a notebook never blocks a running
    pipeline and cannot change the marts."""
    return duckdb.connect(str(published_warehouse()), read_only=True)


def reference_dataset(*parts: str) -> Path:
    """A file of the reference data sets (``../shared/datasets/`` beside the repository), e.g.
    ``reference_dataset("groceries", "groceries_long.csv")``.

    Raises ``FileNotFoundError`` with a clear message when the file is absent.
    """
    path = REFERENCE_DATASETS.joinpath(*parts)
    if not path.exists():
        raise FileNotFoundError(
            f"The reference data set {'/'.join(parts)} is not available: expected {path}. Place the "
            "shared reference data sets (see their README.md) in ../shared/datasets/ beside the repository."
        )
    return path


def basket_thresholds() -> dict[str, dict]:
    """The rule thresholds of the pipeline's ``basket_rules`` asset: ``{"PRODUCT_RULES": {...},
    "CATEGORY_RULES": {...}}``, keyword arguments of :func:`orchestration.analytics.basket.mine_rules`."""
    from orchestration.analytics import basket

    return {
        "PRODUCT_RULES": dict(basket.PIPELINE_PRODUCT_RULES),
        "CATEGORY_RULES": dict(basket.PIPELINE_CATEGORY_RULES),
    }
