"""What the customer models are fitted and scored with: the thresholds, the summary's settings
(:data:`PIPELINE_SETTINGS`), the prediction options and the output columns."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from orchestration.analytics.clv import time_unit_days
from orchestration.analytics.clv.likelihood import PURCHASE_MODELS

MIN_REPEAT_CUSTOMERS = 500
MIN_HISTORY_DAYS = 180
# Below this many customers of each class at a cutoff the classifier is not trained (AUC would be noise).
MIN_CLASS_COUNT = 50
# CLV is discounted at 10 % a year and predicted over 3, 12 and 36 months (see DECISIONLOG.md).
DEFAULT_ANNUAL_DISCOUNT_RATE = 0.10
CLV_HORIZONS_MONTHS = (3, 12, 36)
# The purchase model is chosen on held-out data among these (see DECISIONLOG.md); the comparison is made on
# at most MAX_CHOICE_CUSTOMERS customers drawn at random (seed 0). BG/NBD is then fitted on every customer;
# Pareto/NBD, whose likelihood costs about fifty times more (lifetimes evaluates two hypergeometric functions
# per row), on at most MAX_PARETO_FIT_CUSTOMERS drawn at random, which fixes its four parameters to within
# about 1 %, and predicts for every customer.
PURCHASE_MODEL_CHOICES = ("auto", *PURCHASE_MODELS)
MAX_CHOICE_CUSTOMERS = 20_000
MAX_PARETO_FIT_CUSTOMERS = 100_000
# The holdout validation (ranges' coverage, errors, and the calibration-period model the churn comparison
# reuses) runs on at most this many customers drawn at random (seed 0): a coverage measured on 200,000
# customers has a standard error under 0.1 point, and a shop of a million saves about 20 s.
MAX_VALIDATION_CUSTOMERS = 200_000

PREDICTION_COLUMNS = [
    "customer_id",
    "frequency",
    "recency",
    "T",
    "monetary_value",
    "probability_alive",
    "expected_purchases_30d",
    "expected_purchases_90d",
    "expected_purchases_365d",
    "expected_order_value",
    "clv_12m",
    "clv_margin_12m",
    "churn_risk",
    "churn_model",
    "expected_next_order_date",
    # 80 % ranges (ClvModel.purchase_interval / value_interval; see DECISIONLOG.md).
    "expected_purchases_90d_low",
    "expected_purchases_90d_high",
    "clv_12m_low",
    "clv_12m_high",
    # Issue 15 items 4 and 5: more horizons, the discount rate they use, churn against the own rhythm.
    "clv_3m",
    "clv_36m",
    "clv_annual_discount_rate",
    "churn_risk_relative",
]


FeatureSource = Callable[[pd.Timestamp], pd.DataFrame] | pd.DataFrame | None


@dataclass(frozen=True)
class PipelineSettings:
    """The columns and time resolution the pipeline builds its customer summary with.

    Time is in weeks at hour resolution (``freq="h", freq_multiplier=168``): two orders placed on the same
    day are two purchases (merging them by day biased α by about 5 % on generated data; see DECISIONLOG.md).
    The column names are those :data:`ORDERS_QUERY` returns.
    """

    customer_col: str = "customer_id"
    datetime_col: str = "ordered_at"
    monetary_col: str | None = "revenue"
    margin_col: str | None = "margin"
    freq: str = "h"
    freq_multiplier: float = 168
    penalizer_coef: float = 0.0

    @property
    def time_unit_days(self) -> float:
        """Length in days of the summary's time unit (7: weeks)."""
        return time_unit_days(self.freq, self.freq_multiplier)

    def predict_arguments(self) -> dict[str, Any]:
        """These settings as keyword arguments of :func:`predict_customers`."""
        return asdict(self)


# The one instance the asset, the notebooks and the README's example use.
PIPELINE_SETTINGS = PipelineSettings()


@dataclass(frozen=True)
class PredictionOptions:
    """What :func:`predict_customers` predicts beyond the summary's columns and time resolution.

    ``annual_discount_rate`` discounts every CLV (10 % a year by default; the monthly rate is
    (1 + annual)^(1/12) − 1), over each horizon of ``clv_horizons_months`` (3, 12 and 36 months: the columns
    ``clv_3m``, ``clv_12m``, ``clv_36m``). The churn band (low / medium / high) is cut from
    ``churn_risk_relative`` in dbt (``stg_ml__customer_predictions``, var ``churn_band_thresholds``).
    ``purchase_model`` is ``"auto"`` (BG/NBD and Pareto/NBD fitted on all but the last ``holdout_days``, the
    one with the lower per-customer holdout error kept), ``"bgnbd"`` or ``"pareto_nbd"``.
    """

    def __post_init__(self) -> None:
        if self.purchase_model not in PURCHASE_MODEL_CHOICES:
            raise ValueError(
                f"purchase_model must be one of {PURCHASE_MODEL_CHOICES}, got {self.purchase_model!r}"
            )

    annual_discount_rate: float = DEFAULT_ANNUAL_DISCOUNT_RATE
    clv_horizons_months: tuple[int, ...] = CLV_HORIZONS_MONTHS
    purchase_model: str = "auto"
    max_choice_customers: int = MAX_CHOICE_CUSTOMERS
    holdout_days: int = 90
    churn_horizon_days: int = 90
    churn_classifier: str | None = "hgb"
    max_next_order_days: int = 365
    min_repeat_customers: int = MIN_REPEAT_CUSTOMERS
    min_history_days: int = MIN_HISTORY_DAYS
    thresholds: Mapping[str, tuple[float | None, float | None]] | None = None
    random_state: int = 0

    @property
    def monthly_discount_rate(self) -> float:
        """The monthly rate equivalent to ``annual_discount_rate`` (what lifetimes' CLV sum discounts by)."""
        return monthly_discount_rate(self.annual_discount_rate)


def monthly_discount_rate(annual_rate: float) -> float:
    """The monthly discount rate equivalent to ``annual_rate``: (1 + annual)^(1/12) − 1 (10 % → 0.797 %)."""
    if not 0 <= annual_rate < 10:
        raise ValueError(f"annual_discount_rate must be a fraction such as 0.1, got {annual_rate!r}")
    return (1.0 + annual_rate) ** (1.0 / 12.0) - 1.0


@dataclass
class Findings:
    """What a prediction step found besides its result: ``ml.model_quality`` rows and messages."""

    quality: list[pd.DataFrame]
    messages: list[str]

    def extend(self, other: Findings) -> None:
        """Add ``other``'s quality rows and messages to these."""
        self.quality.extend(other.quality)
        self.messages.extend(other.messages)
