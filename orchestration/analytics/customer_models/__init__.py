"""Per-customer predictions in one call: CLV, probability alive, next purchase, churn risk, model quality.

:func:`predict_customers` is what the ``ml.customer_predictions`` / ``ml.model_quality`` assets call.
It chains :mod:`~orchestration.analytics.clv` (BG/NBD + Gamma-Gamma), :mod:`~orchestration.analytics.validation`
(holdout check) and :mod:`~orchestration.analytics.churn` (classifier vs BG/NBD).

DECISION — eligibility. Commercial tools gate predictive CLV on history: Klaviyo shows predictions only
with at least 500 customers who have ordered, 180 days of order history, recent orders and some customers
with 3+ orders. Here a shop needs at least 500 *repeat* customers and 180 days of history, because BG/NBD
learns purchase rates and dropout only from repeat buyers; with fewer its estimates are dominated by noise
and would look more certain than they are. The caller gets an empty frame with the right columns and a
message saying what is missing.

DECISION — next order date. ``expected_next_order_date`` is the date by which the customer is more likely
than not to have ordered again: the median of the time to her next purchase under BG/NBD, solving
P(alive)·(1 − ((α+T)/(α+T+w))^(r+x)) = ½ (an alive customer's next purchase is a Gamma mixture of
exponentials). It is empty (NaT) when P(alive) ≤ ½ (probably gone, so no date is more likely than not) or
when the date is more than ``max_next_order_days`` (365) away.

DECISION — one definition of the customer summary. :data:`PIPELINE_SETTINGS` (a frozen
:class:`PipelineSettings`) holds the summary's columns and time resolution; the ``customer_models`` asset,
the notebooks and the README's example all read orders with :func:`customer_orders`, turn them into a
summary with :func:`customer_summary` and fit it with :func:`fit_customer_model`, so a data scientist gets
the very parameters ``ml.model_quality`` holds for the same warehouse.

Where each part lives: :mod:`.options` (thresholds, :class:`PipelineSettings`, :class:`PredictionOptions`,
the output columns), :mod:`.orders` (the orders read and the summary fitted), :mod:`.eligibility`,
:mod:`.fitting` (the fits, the purchase model's choice, the holdout validation), :mod:`.scores` (the
per-customer predictions), :mod:`.churn_risk` (BG/NBD against the classifier) and :mod:`.predict`
(:func:`predict_customers`, which chains them).
"""

from orchestration.analytics.customer_models.churn_risk import churn_frame
from orchestration.analytics.customer_models.eligibility import check_eligibility
from orchestration.analytics.customer_models.options import (
    CLV_HORIZONS_MONTHS,
    DEFAULT_ANNUAL_DISCOUNT_RATE,
    MAX_CHOICE_CUSTOMERS,
    MAX_PARETO_FIT_CUSTOMERS,
    MAX_VALIDATION_CUSTOMERS,
    MIN_CLASS_COUNT,
    MIN_HISTORY_DAYS,
    MIN_REPEAT_CUSTOMERS,
    PIPELINE_SETTINGS,
    PREDICTION_COLUMNS,
    PURCHASE_MODEL_CHOICES,
    FeatureSource,
    PipelineSettings,
    PredictionOptions,
    monthly_discount_rate,
)
from orchestration.analytics.customer_models.orders import (
    ORDERS_QUERY,
    customer_orders,
    customer_summary,
    fit_customer_model,
    purchase_rows,
)
from orchestration.analytics.customer_models.predict import predict_customers
from orchestration.analytics.customer_models.scores import empty_predictions

__all__ = [
    "CLV_HORIZONS_MONTHS",
    "DEFAULT_ANNUAL_DISCOUNT_RATE",
    "MAX_CHOICE_CUSTOMERS",
    "MAX_PARETO_FIT_CUSTOMERS",
    "MAX_VALIDATION_CUSTOMERS",
    "MIN_CLASS_COUNT",
    "MIN_HISTORY_DAYS",
    "MIN_REPEAT_CUSTOMERS",
    "ORDERS_QUERY",
    "PIPELINE_SETTINGS",
    "PREDICTION_COLUMNS",
    "PURCHASE_MODEL_CHOICES",
    "FeatureSource",
    "PipelineSettings",
    "PredictionOptions",
    "check_eligibility",
    "churn_frame",
    "customer_orders",
    "customer_summary",
    "empty_predictions",
    "fit_customer_model",
    "monthly_discount_rate",
    "predict_customers",
    "purchase_rows",
]
