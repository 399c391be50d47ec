"""The models' parameter names and per-customer log-likelihoods (BG/NBD, Pareto/NBD, Gamma-Gamma).

lifetimes fits in rescaled time; these functions evaluate the likelihood in the summary's own time unit,
for the diagnostics (:func:`.fit.fit_clv` records the total log-likelihood of every fit).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import gammaln

__all__ = [
    "BGNBD_PARAMS",
    "GAMMA_GAMMA_PARAMS",
    "PARETO_NBD_PARAMS",
    "PURCHASE_MODELS",
    "bgnbd_log_likelihood",
    "gamma_gamma_log_likelihood",
    "pareto_nbd_log_likelihood",
]

BGNBD_PARAMS = ("r", "alpha", "a", "b")
PARETO_NBD_PARAMS = ("r", "alpha", "s", "beta")
GAMMA_GAMMA_PARAMS = ("p", "q", "v")
# Purchase models fit_clv knows, with their parameter names; "auto" chooses among them on a holdout.
PURCHASE_MODELS = {"bgnbd": BGNBD_PARAMS, "pareto_nbd": PARETO_NBD_PARAMS}


def bgnbd_log_likelihood(params: Mapping[str, float], frequency, recency, T) -> np.ndarray:
    """Per-customer BG/NBD log-likelihood, equation (6) of Fader, Hardie & Lee (2005)."""
    r, alpha, a, b = (float(params[k]) for k in BGNBD_PARAMS)
    x = np.asarray(frequency, dtype=float)
    t_x = np.asarray(recency, dtype=float)
    big_t = np.asarray(T, dtype=float)
    a1 = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
    a2 = gammaln(a + b) + gammaln(b + x) - gammaln(b) - gammaln(a + b + x)
    a3 = -(r + x) * np.log(alpha + big_t)
    a4 = np.log(a) - np.log(b + np.maximum(x, 1) - 1) - (r + x) * np.log(alpha + t_x)
    return a1 + a2 + np.where(x > 0, np.logaddexp(a3, a4), a3)


def pareto_nbd_log_likelihood(params: Mapping[str, float], frequency, recency, T) -> np.ndarray:
    """Per-customer Pareto/NBD log-likelihood (Fader & Hardie 2005, note 009, equation (18), as in lifetimes)."""
    from lifetimes import ParetoNBDFitter

    values = [float(params[k]) for k in PARETO_NBD_PARAMS]
    x, t_x, big_t = (np.asarray(c, dtype=float) for c in (frequency, recency, T))
    with np.errstate(all="ignore"):
        return np.asarray(ParetoNBDFitter._conditional_log_likelihood(values, x, t_x, big_t), dtype=float)


def gamma_gamma_log_likelihood(params: Mapping[str, float], frequency, monetary_value) -> np.ndarray:
    """Per-customer Gamma-Gamma log-likelihood of the mean repeat value (Fader & Hardie 2013, note 025)."""
    p, q, v = (float(params[k]) for k in GAMMA_GAMMA_PARAMS)
    x = np.asarray(frequency, dtype=float)
    m = np.asarray(monetary_value, dtype=float)
    return (
        gammaln(p * x + q)
        - gammaln(p * x)
        - gammaln(q)
        + q * np.log(v)
        + (p * x - 1) * np.log(m)
        + p * x * np.log(x)
        - (p * x + q) * np.log(x * m + v)
    )
