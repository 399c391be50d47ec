"""Where the tests find the reference data sets (Groceries, Online Retail, Olist): ``../shared/datasets/``
beside the repository, or the folder the environment variable ``ECRM_SHARED_DATASETS`` names. The variable
is for runs of a copy of the tests elsewhere: ``make mutation`` tests a copy in ``mutants/``, one level
deeper, where the relative path would miss the data and the tests that need it would skip."""

from __future__ import annotations

import os
from pathlib import Path

SHARED_DATASETS = Path(
    os.environ.get("ECRM_SHARED_DATASETS") or Path(__file__).resolve().parents[3] / "shared" / "datasets"
)
