"""Simulation: customers drawn from BG/NBD + Gamma-Gamma with known parameters, for tests and benchmarks.

The generative story is that of Fader, Hardie & Lee (2005): λ ~ Gamma(r, rate α), p ~ Beta(a, b); while
alive a customer buys as a Poisson process with rate λ, and after each *repeat* purchase she drops out
with probability p, so she makes K ~ Geometric(p) repeat purchases at most. With N ~ Poisson(λT) the
purchases an immortal customer would make in (0, T], the observed ``frequency`` is min(N, K) and she is
alive at T exactly when N < K. Given N, purchase times are uniform order statistics, so the x-th is
T·Beta(x, N − x + 1), and the first x of N can be drawn as normalised cumulative exponentials. Everything
is vectorised: a million customers take a few seconds (``lifetimes.generate_data`` loops in Python).

Values follow Gamma-Gamma: ν ~ Gamma(q, rate v) per customer, each order ~ Gamma(p, rate ν).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["simulate_bgnbd_summary", "simulate_transactions"]


def _draw_customers(rng: np.random.Generator, n: int, r: float, alpha: float, a: float, b: float, T):
    """λ, p, N (purchases if immortal), the observed frequency min(N, K) and alive (N < K) per customer."""
    lam = rng.gamma(r, 1.0 / alpha, n)
    dropout = rng.beta(a, b, n)
    repeat_limit = rng.geometric(dropout)
    unlimited = rng.poisson(lam * T)
    frequency = np.minimum(unlimited, repeat_limit)
    return lam, dropout, unlimited, frequency, unlimited < repeat_limit


def _repeat_purchase_times(
    rng: np.random.Generator, ages: np.ndarray, unlimited: np.ndarray, frequency: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Owner (customer position) and time after the first purchase of every repeat purchase.

    The first x of N uniform order statistics on (0, T]: S_k / S_{N+1}, S_k cumulative Exp(1) draws,
    with S_{N+1} = S_x + Gamma(N + 1 − x).
    """
    owner = np.repeat(np.arange(len(ages)), frequency)
    steps = rng.exponential(1.0, owner.size)
    cumulative = np.cumsum(steps)
    starts = np.concatenate(([0], np.cumsum(frequency)[:-1]))
    offset = np.concatenate(([0.0], cumulative))[starts]
    within = cumulative - np.repeat(offset, frequency)
    has_repeat = frequency > 0
    s_x = np.zeros(len(ages))
    s_x[has_repeat] = within[np.cumsum(frequency)[has_repeat] - 1]
    normaliser = s_x + rng.gamma(unlimited - frequency + 1.0)
    return owner, ages[owner] * within / normaliser[owner]


def simulate_bgnbd_summary(
    n_customers: int, r: float, alpha: float, a: float, b: float, T: Any, seed: int | None = None
) -> pd.DataFrame:
    """``frequency, recency, T`` plus the truth (``alive``, ``lam``, ``dropout``) for ``n_customers``.

    ``T`` is a scalar or an array of ages (time units since the first purchase). Times are continuous.
    """
    rng = np.random.default_rng(seed)
    ages = np.broadcast_to(np.asarray(T, dtype=float), (n_customers,)).copy()
    lam, dropout, unlimited, frequency, alive = _draw_customers(rng, n_customers, r, alpha, a, b, ages)
    last = ages * rng.beta(np.maximum(frequency, 1), np.maximum(unlimited - frequency + 1, 1))
    recency = np.where(frequency > 0, last, 0.0)
    return pd.DataFrame(
        {
            "frequency": frequency.astype(float),
            "recency": recency,
            "T": ages,
            "alive": alive,
            "lam": lam,
            "dropout": dropout,
        }
    )


def simulate_transactions(
    n_customers: int,
    *,
    r: float,
    alpha: float,
    a: float,
    b: float,
    p: float,
    q: float,
    v: float,
    observation_end: Any,
    history_days: int = 730,
    time_unit_days: float = 7.0,
    margin_rate: float = 0.35,
    cost_per_order: float = 4.0,
    seed: int | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Transactions and per-customer truth for customers acquired uniformly over ``history_days``.

    Returns ``(transactions, truth)``: transactions have ``customer_id, ordered_at, revenue, margin``
    (``margin = margin_rate·revenue − cost_per_order``, so small orders lose money); ``truth`` is indexed
    by ``customer_id`` with ``first_order_at, T, alive, lam, dropout, mean_order_value``. Rates are per
    ``time_unit_days`` (weeks by default), as in the BG/NBD parameters. Purchase times are continuous, so
    a summary at hour resolution (``freq="h", freq_multiplier=168``, as the pipeline builds it) recovers
    the parameters within sampling error, while day or week periods merge close purchases.
    """
    rng = np.random.default_rng(seed)
    end = pd.Timestamp(observation_end)
    unit_seconds = time_unit_days * 86_400.0
    ages = rng.uniform(0.0, history_days * 86_400.0, n_customers) / unit_seconds
    lam, dropout, unlimited, frequency, alive = _draw_customers(rng, n_customers, r, alpha, a, b, ages)
    owner, repeat_times = _repeat_purchase_times(rng, ages, unlimited, frequency)

    first_at = end - pd.to_timedelta(ages * unit_seconds, unit="s")
    customer_ids = np.char.add("C", np.char.zfill(np.arange(n_customers).astype(str), 7))
    rate = rng.gamma(q, 1.0 / v, n_customers)
    all_owner = np.concatenate((np.arange(n_customers), owner))
    offsets = np.concatenate((np.zeros(n_customers), repeat_times))
    revenue = np.round(rng.gamma(p, 1.0 / rate[all_owner]), 2)
    transactions = pd.DataFrame(
        {
            "customer_id": customer_ids[all_owner],
            "ordered_at": first_at[all_owner] + pd.to_timedelta(offsets * unit_seconds, unit="s"),
            "revenue": revenue,
            "margin": np.round(margin_rate * revenue - cost_per_order, 2),
        }
    ).sort_values(["ordered_at", "customer_id"], ignore_index=True)
    truth = pd.DataFrame(
        {
            "customer_id": customer_ids,
            "first_order_at": first_at,
            "T": ages,
            "alive": alive,
            "lam": lam,
            "dropout": dropout,
            "mean_order_value": p / rate,
        }
    ).set_index("customer_id")
    return transactions, truth
