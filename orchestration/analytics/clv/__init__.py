"""Customer lifetime value: RFM summaries, BG/NBD or Pareto/NBD + Gamma-Gamma fits, closed-form predictions.

This package is the one place callers import CLV from (``from orchestration.analytics.clv import fit_clv``);
each submodule has one responsibility:

* :mod:`.summary` — order rows → lifetimes' RFM summary (``rfm_summary``, ``calibration_and_holdout_summary``,
  ``time_unit_days``) and the time-resolution conventions;
* :mod:`.likelihood` — the models' parameter names and per-customer log-likelihoods;
* :mod:`.fit` — fitting with lifetimes (fallback penalizers, Gamma-Gamma, ``choose_purchase_model``,
  ``fit_clv``);
* :mod:`.model` — the fitted :class:`ClvModel`: predictions, ranges, JSON persistence;
* :mod:`.distributions` — the posterior-predictive distributions behind the ranges.

Models
------
* **BG/NBD** (Fader, Hardie & Lee 2005, "Counting your customers the easy way: an alternative to the
  Pareto/NBD model", Marketing Science 24(2), 275-284): while alive a customer buys as a Poisson process
  with rate λ ~ Gamma(r, α); after every *repeat* purchase she drops out with probability p ~ Beta(a, b).
* **Gamma-Gamma** (Fader, Hardie & Lee 2005, "RFM and CLV: using iso-value curves for customer base
  analysis", JMR 42(4), 415-430; Fader & Hardie 2013, note 025): the value of a customer's transactions
  is Gamma(p, ν) with ν ~ Gamma(q, v), independent of the transaction process.
* **Pareto/NBD** (Schmittlein, Morrison & Colombo 1987; Fader & Hardie's notes 008, 009, 028), the
  alternative purchase model: dropout at an Exp(μ) time, μ ~ Gamma(s, β), at any moment rather than only
  after a purchase. ``fit_clv(summary, model="pareto_nbd")``; ``model="auto"`` keeps whichever of the two
  predicts a holdout period better (lowest per-customer MAE of purchases, see :func:`choose_purchase_model`).

All are fitted with ``lifetimes`` (0.11.3), the reference implementation; predictions are closed-form
from the parameters, so a fitted :class:`ClvModel` is saved as JSON (parameters + diagnostics) and needs
no pickle.

Time is in weeks throughout the project. The pipeline fits at hour resolution (``freq="h",
freq_multiplier=168``, see ``customer_models.PIPELINE_SETTINGS``); the summary functions' own default is
lifetimes' calendar weeks (``freq="W"``), and CDNOW, which has dates only, is read at day resolution
(``freq="D", freq_multiplier=7``). See :mod:`.summary`.
"""

# This module re-exports: the public names of __all__, three constants importable before the split
# (DEFAULT_FALLBACK_PENALIZERS, MAX_INDEPENDENCE_CORRELATION, WEEKS_PER_MONTH) and, under their old names,
# the private helpers that lived in the single clv module, so that existing imports keep working (churn,
# customer_models and validation use the datetime helpers, the tests the PMFs). New code should import a
# private helper from its submodule.
# ruff: noqa: F401
from __future__ import annotations

from orchestration.analytics.clv.distributions import (
    _CHUNK_ROWS,
    _GL_NODES,
    _GL_WEIGHTS,
    _bgnbd_alive_pmfs,
    _count_quantiles,
    _log_nbinom,
    _pareto_alive_pmfs,
    _pareto_no_purchase_given_alive,
    _pareto_nodes,
    _pareto_wait,
    _simulate_counts,
    _unique_apply,
    _unique_rows,
)
from orchestration.analytics.clv.fit import (
    DEFAULT_FALLBACK_PENALIZERS,
    MAX_INDEPENDENCE_CORRELATION,
    ClvFitError,
    _attempt_fit,
    _check_summary,
    _finite_params,
    _fit_gamma_gamma,
    _fit_purchase_model,
    _gamma_gamma_check,
    _holdout_errors,
    _quiet_runtime_warnings,
    _standard_errors,
    choose_purchase_model,
    fit_clv,
)
from orchestration.analytics.clv.likelihood import (
    BGNBD_PARAMS,
    GAMMA_GAMMA_PARAMS,
    PARETO_NBD_PARAMS,
    PURCHASE_MODELS,
    bgnbd_log_likelihood,
    gamma_gamma_log_likelihood,
    pareto_nbd_log_likelihood,
)
from orchestration.analytics.clv.model import WEEKS_PER_MONTH, ClvModel, _check_level, _jsonable
from orchestration.analytics.clv.summary import (
    _FREQ_UNITS,
    _check_freq,
    _columns,
    _naive_datetimes,
    _naive_timestamp,
    _period_start,
    calibration_and_holdout_summary,
    rfm_summary,
    time_unit_days,
)

__all__ = [
    "BGNBD_PARAMS",
    "GAMMA_GAMMA_PARAMS",
    "PARETO_NBD_PARAMS",
    "PURCHASE_MODELS",
    "ClvFitError",
    "ClvModel",
    "bgnbd_log_likelihood",
    "calibration_and_holdout_summary",
    "choose_purchase_model",
    "fit_clv",
    "gamma_gamma_log_likelihood",
    "pareto_nbd_log_likelihood",
    "rfm_summary",
    "time_unit_days",
]
