"""Score what the warehouse learned against the truth the demo generator simulated from.

Used by tests and benchmarks only (the pipeline never reads ``truth/``), so it lives outside the runtime
package.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
from sklearn.metrics import roc_auc_score

from orchestration.analytics.clv import fit_clv, rfm_summary


def customer_persons(identity_map: pd.DataFrame, truth_identity: pd.DataFrame) -> pd.Series:
    """The true person of each resolved customer: the person most of its source records belong to."""
    joined = identity_map.merge(truth_identity, on=["source", "source_id"], how="inner")
    counts = joined.groupby(["customer_id", "person_id"]).size().reset_index(name="n")
    best = counts.sort_values(["customer_id", "n", "person_id"], ascending=[True, False, True])
    return best.drop_duplicates("customer_id").set_index("customer_id")["person_id"]


def score_clv(
    orders: pd.DataFrame,
    identity_map: pd.DataFrame,
    truth: Path,
    freq: str = "h",
    freq_multiplier: float = 168,
) -> dict:
    """Fit BG/NBD + Gamma-Gamma on the warehouse's orders and compare with the generator's truth.

    ``orders``: ``customer_id, ordered_at, net_revenue`` from ``marts.fct_orders``; ``identity_map``:
    ``marts.customer_identity_map``. Returns the fitted and true parameters, their relative errors and the
    AUC of probability alive against the true alive/dropped-out state among repeat buyers. Time is in weeks
    at hour resolution by default, as the pipeline fits (see ``orchestration.assets.analytics``).
    """
    params = json.loads((truth / "model_params.json").read_text())
    end = pd.Timestamp(params["observation_end"]).tz_localize(None)
    orders = orders.assign(ordered_at=pd.to_datetime(orders["ordered_at"]).dt.tz_localize(None))
    summary = rfm_summary(
        orders,
        "customer_id",
        "ordered_at",
        "net_revenue",
        observation_end=end,
        freq=freq,
        freq_multiplier=freq_multiplier,
    )
    model = fit_clv(summary)
    true = params["bgnbd"]
    errors = {k: model.params[k] / true[k] - 1 for k in true}
    persons = pd.read_csv(truth / "persons.csv", dtype={"person_id": str})
    alive = persons.set_index("person_id")["is_alive_at_end"].astype(str).str.lower().eq("true")
    person_of = customer_persons(identity_map, pd.read_csv(truth / "identity.csv", dtype=str))
    repeat = summary[summary["frequency"] > 0].copy()
    repeat["alive"] = repeat.index.map(person_of).map(alive)
    repeat = repeat.dropna(subset=["alive"])
    p_alive = model.probability_alive(repeat)
    auc = float(roc_auc_score(repeat["alive"].astype(bool), p_alive))
    # The same with the true parameters: the best any BG/NBD fit can separate on these histories.
    oracle = dataclasses.replace(model, params={**model.params, **true})
    auc_true = float(roc_auc_score(repeat["alive"].astype(bool), oracle.probability_alive(repeat)))
    return {
        "customers": len(summary),
        "repeat_customers": int((summary["frequency"] > 0).sum()),
        "params": {k: float(model.params[k]) for k in true},
        "truth": true,
        "relative_errors": errors,
        "auc_probability_alive_repeat_buyers": auc,
        "auc_with_true_parameters": auc_true,
    }
