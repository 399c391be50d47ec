"""Marketing audiences that honour consent, with each customer's recommended products.

An audience is a list of customers for one channel (``email`` or ``sms``) chosen by predicted value, churn
risk and segment. Consent is not optional: only customers with consent for that channel are ever returned,
and rows without a contact address are dropped.

The consent decision is made once, in dbt (``int_customer_profiles_merged``, see DECISIONLOG.md "Consent"):
``email_opt_in`` and ``sms_opt_in`` of ``marts.customer_360`` already hold the latest statement per channel
with that channel's unsubscribes applied. This module only selects on them: filtering on ``is_unsubscribed``
(an unsubscribe from any channel) as well would drop an SMS unsubscriber from e-mail audiences and the
reverse, against the per-channel rule.
"""

from __future__ import annotations

import pandas as pd

CHANNELS = {
    # channel: (consent column, contact column) in marts.customer_360
    "email": ("email_opt_in", "email"),
    "sms": ("sms_opt_in", "phone_e164"),
}


def build_audience(
    con,
    channel: str = "email",
    churn_bands: tuple[str, ...] | None = None,
    min_clv: float | None = None,
    segments: tuple[str, ...] | None = None,
    recommendations: int = 3,
) -> pd.DataFrame:
    """Customers for a campaign on ``channel``, most valuable first.

    ``con`` is a DuckDB connection to the warehouse (or its published copy). Filters: ``churn_bands``
    (low/medium/high), ``min_clv`` (predicted 12-month value), ``segments`` (RFM segment names). Returns
    ``customer_id, contact, first_name, country, rfm_segment, clv_12m, churn_band, probability_alive`` and
    ``recommended_1..N`` / ``reason_1..N`` columns.
    """
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {sorted(CHANNELS)}, got {channel!r}")
    consent, contact = CHANNELS[channel]
    # The channel's consent column is the whole consent rule (see the module docstring).
    where = [f"coalesce(c.{consent}, false)", f"c.{contact} is not null"]
    params: list = []
    if churn_bands:
        where.append(f"c.churn_band in ({', '.join('?' for _ in churn_bands)})")
        params += list(churn_bands)
    if min_clv is not None:
        where.append("coalesce(c.clv_12m, 0) >= ?")
        params.append(float(min_clv))
    if segments:
        where.append(f"c.rfm_segment in ({', '.join('?' for _ in segments)})")
        params += list(segments)
    pivots = ", ".join(
        f"max(case when r.rank = {i} then p.product_name end) as recommended_{i}, "
        f"max(case when r.rank = {i} then r.reason end) as reason_{i}"
        for i in range(1, recommendations + 1)
    )
    sql = f"""
        with audience as (
            select c.customer_id, c.{contact} as contact, c.first_name, c.country, c.rfm_segment, c.clv_12m,
                   c.churn_band, c.probability_alive
            from marts.customer_360 c
            where {" and ".join(where)}
        )
        select a.*{", " + pivots if recommendations else ""}
        from audience a
        left join ml.recommendations r on r.customer_id = a.customer_id and r.rank <= {int(recommendations)}
        left join marts.dim_products p on p.product_id = r.product_id
        group by all
        order by a.clv_12m desc nulls last, a.customer_id
    """
    return con.cursor().execute(sql, params).fetch_df()
