"""Marketing audiences that honour consent, with each customer's recommended products.

An audience is a list of customers for one channel (``email`` or ``sms``) chosen by filtering
``marts.customer_360`` (segment, value band, churn band, predicted value, last order, category bought,
country). Consent is not optional: only customers with consent for that channel are ever returned, and rows
without a contact address are dropped.

The consent decision is made once, in dbt (``int_customer_profiles_merged``, see DECISIONLOG.md "Consent"):
``email_opt_in`` and ``sms_opt_in`` of ``marts.customer_360`` already hold the latest statement per channel
with that channel's unsubscribes applied. This module only selects on them: filtering on ``is_unsubscribed``
(an unsubscribe from any channel) as well would drop an SMS unsubscriber from e-mail audiences and the
reverse, against the per-channel rule.

A saved audience is its filters as YAML (``data/audiences/<name>.yml``, :func:`save_audience`); the
dashboard's export and ``ecrm export-audience NAME`` both build the list with :func:`export_audience`.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import yaml

CHANNELS = {
    # channel: (consent column, contact column) in marts.customer_360
    "email": ("email_opt_in", "email"),
    "sms": ("sms_opt_in", "phone_e164"),
}
CHURN_BANDS = ("low", "medium", "high")
# The value band is the customer's RFM monetary score (quintile of spend among buyers, 1 = lowest,
# 5 = highest), defined in dbt with the other RFM scores: no second definition of "value" here.
VALUE_BANDS = (1, 2, 3, 4, 5)
# Matched whole (fullmatch): with ``match``, ``$`` also accepts a name ending in a newline.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


@dataclass(frozen=True)
class AudienceSpec:
    """The filters of an audience over ``marts.customer_360``; empty filters select everyone.

    ``value_bands`` are RFM monetary scores (1–5), ``min_clv``/``max_clv`` bound the predicted 12-month value,
    ``last_order_from``/``last_order_to`` the date of the last order (inclusive), ``categories`` keep
    customers who bought at least one product of one of them.
    """

    channel: str = "email"
    segments: tuple[str, ...] = ()
    value_bands: tuple[int, ...] = ()
    churn_bands: tuple[str, ...] = ()
    min_clv: float | None = None
    max_clv: float | None = None
    last_order_from: date | None = None
    last_order_to: date | None = None
    categories: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    recommendations: int = 3

    def __post_init__(self) -> None:
        if self.channel not in CHANNELS:
            raise ValueError(f"channel must be one of {sorted(CHANNELS)}, got {self.channel!r}")
        for name in ("segments", "value_bands", "churn_bands", "categories", "countries"):
            object.__setattr__(self, name, tuple(sorted(getattr(self, name) or ())))
        object.__setattr__(self, "value_bands", tuple(int(v) for v in self.value_bands))
        unknown = set(self.churn_bands) - set(CHURN_BANDS)
        if unknown:
            raise ValueError(f"churn bands must be among {CHURN_BANDS}, got {sorted(unknown)}")

    def to_dict(self) -> dict:
        """The filters as plain YAML/JSON values (dates as ISO strings, tuples as lists)."""
        out = {}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, date):
                value = value.isoformat()
            out[field.name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict) -> AudienceSpec:
        """The spec of :meth:`to_dict` (or of a saved YAML file); unknown keys are an error."""
        data = dict(data or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown audience filters: {sorted(unknown)}")
        for key in ("last_order_from", "last_order_to"):
            if isinstance(data.get(key), str):
                data[key] = date.fromisoformat(data[key])
        for key in ("segments", "value_bands", "churn_bands", "categories", "countries"):
            data[key] = tuple(data.get(key) or ())
        return cls(**data)


def _selection(spec: AudienceSpec) -> tuple[list[str], list]:
    """WHERE conditions (on ``marts.customer_360 c``) and parameters of the spec's filters, consent aside."""
    where, params = ["c.is_identified"], []

    def among(column: str, values: tuple) -> None:
        if values:
            where.append(f"{column} in ({', '.join('?' for _ in values)})")
            params.extend(values)

    among("c.rfm_segment", spec.segments)
    among("c.monetary_score", spec.value_bands)
    among("c.churn_band", spec.churn_bands)
    among("c.country", spec.countries)
    if spec.min_clv is not None:
        where.append("coalesce(c.clv_12m, 0) >= ?")
        params.append(float(spec.min_clv))
    if spec.max_clv is not None:
        where.append("coalesce(c.clv_12m, 0) <= ?")
        params.append(float(spec.max_clv))
    if spec.last_order_from is not None:
        where.append("c.last_order_at::date >= ?")
        params.append(spec.last_order_from)
    if spec.last_order_to is not None:
        where.append("c.last_order_at::date <= ?")
        params.append(spec.last_order_to)
    if spec.categories:
        where.append(
            "exists (select 1 from marts.fct_order_lines l join marts.dim_products p using (product_id) "
            f"where l.customer_id = c.customer_id and p.category in ({', '.join('?' for _ in spec.categories)}))"
        )
        params.extend(spec.categories)
    return where, params


def _consents(channel: str) -> str:
    """The channel's consent rule: its consent column in customer_360 (see the module docstring)."""
    consent, _ = CHANNELS[channel]
    return f"coalesce(c.{consent}, false)"


def build_audience(
    con,
    channel: str = "email",
    churn_bands: tuple[str, ...] | None = None,
    min_clv: float | None = None,
    segments: tuple[str, ...] | None = None,
    recommendations: int = 3,
    **filters,
) -> pd.DataFrame:
    """Customers for a campaign on ``channel``, most valuable first.

    ``con`` is a DuckDB connection to the warehouse (or its published copy). Filters: ``churn_bands``
    (low/medium/high), ``min_clv`` (predicted 12-month value), ``segments`` (RFM segment names) and any
    other field of :class:`AudienceSpec` as a keyword. Returns ``customer_id, contact, first_name, country,
    rfm_segment, clv_12m, clv_12m_low, clv_12m_high, expected_purchases_90d, expected_purchases_90d_low,
    expected_purchases_90d_high, churn_band, probability_alive`` and ``recommended_1..N`` / ``reason_1..N``
    (each prediction with its 80 % range).
    """
    if channel not in CHANNELS:
        raise ValueError(f"channel must be one of {sorted(CHANNELS)}, got {channel!r}")
    spec = AudienceSpec(
        channel=channel, churn_bands=churn_bands, min_clv=min_clv, segments=segments,
        recommendations=recommendations, **filters,
    )  # fmt: skip
    return export_audience(con, spec)


def export_audience(con, spec: AudienceSpec) -> pd.DataFrame:
    """The audience of ``spec`` with each customer's recommended products and reasons, most valuable first:
    the one list the dashboard shows and exports and ``ecrm export-audience`` writes."""
    _, contact = CHANNELS[spec.channel]
    # The channel's consent column is the whole consent rule (see the module docstring).
    where, params = _selection(spec)
    where += [_consents(spec.channel), f"c.{contact} is not null"]
    n = int(spec.recommendations)
    columns = ["a.*"] + [
        f"max(case when r.rank = {i} then p.product_name end) as recommended_{i}, "
        f"max(case when r.rank = {i} then r.reason end) as reason_{i}"
        for i in range(1, n + 1)
    ]
    sql = f"""
        with audience as (
            select c.customer_id, c.{contact} as contact, c.first_name, c.country, c.rfm_segment, c.clv_12m,
                   c.clv_12m_low, c.clv_12m_high, c.expected_purchases_90d, c.expected_purchases_90d_low,
                   c.expected_purchases_90d_high, c.churn_band, c.probability_alive
            from marts.customer_360 c
            where {" and ".join(where)}
        )
        select {", ".join(columns)}
        from audience a
        left join ml.recommendations r on r.customer_id = a.customer_id and r.rank <= {n}
        left join marts.dim_products p on p.product_id = r.product_id
        group by all
        order by a.clv_12m desc nulls last, a.customer_id
    """
    return con.cursor().execute(sql, params).fetch_df()


def audience_summary(con, spec: AudienceSpec) -> dict:
    """Live figures of an audience: ``matching`` (identified customers the filters select),
    ``excluded_no_consent`` (of those, without consent for the channel), ``excluded_no_contact`` (with
    consent but no address for the channel), ``size`` (the audience) and ``predicted_value_12m`` (the sum of
    the audience's ``clv_12m``; the figure itself is customer_360's).
    """
    _, contact = CHANNELS[spec.channel]
    where, params = _selection(spec)
    consents = _consents(spec.channel)
    row = (
        con.cursor()
        .execute(
            f"""
            select count(*) as matching,
                   count(*) filter (where not {consents}) as excluded_no_consent,
                   count(*) filter (where {consents} and c.{contact} is null) as excluded_no_contact,
                   count(*) filter (where {consents} and c.{contact} is not null) as size,
                   coalesce(sum(c.clv_12m) filter (where {consents} and c.{contact} is not null), 0)
                       as predicted_value_12m
            from marts.customer_360 c
            where {" and ".join(where)}
            """,
            params,
        )
        .fetchone()
    )
    keys = ("matching", "excluded_no_consent", "excluded_no_contact", "size", "predicted_value_12m")
    return {k: (float(v) if k == "predicted_value_12m" else int(v)) for k, v in zip(keys, row, strict=True)}


def is_valid_name(name: str | None) -> bool:
    """Whether ``name`` can name a saved audience: letters, digits, ``_`` and ``-``, up to 64, starting with a
    letter or digit (it names files)."""
    return bool(NAME_PATTERN.fullmatch(name or ""))


def check_name(name: str) -> str:
    """``name`` when it is a valid audience name (:func:`is_valid_name`); ValueError otherwise."""
    if not is_valid_name(name):
        raise ValueError(
            f"audience name {name!r}: use letters, digits, '_' and '-' (up to 64, starting with a letter or digit)"
        )
    return name


def audience_file(name: str, folder: Path) -> Path:
    """Where the saved audience ``name`` lives: ``<folder>/<name>.yml``."""
    return Path(folder) / f"{check_name(name)}.yml"


def save_audience(name: str, spec: AudienceSpec, folder: Path) -> Path:
    """Save ``spec`` as ``<folder>/<name>.yml`` (replacing an audience of that name); returns the path."""
    path = audience_file(name, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".yml.tmp")
    tmp.write_text(yaml.safe_dump({"name": name, **spec.to_dict()}, sort_keys=False, allow_unicode=True))
    tmp.replace(path)
    return path


def load_audience(name: str, folder: Path) -> AudienceSpec:
    """The saved audience ``name`` (``<folder>/<name>.yml``); FileNotFoundError when there is none."""
    data = yaml.safe_load(audience_file(name, folder).read_text()) or {}
    data.pop("name", None)
    return AudienceSpec.from_dict(data)


def saved_audiences(folder: Path) -> list[str]:
    """Names of the audiences saved in ``folder``, sorted."""
    return sorted(p.stem for p in Path(folder).glob("*.yml") if is_valid_name(p.stem))


def write_export(frame: pd.DataFrame, path: Path) -> Path:
    """Write an exported audience as CSV (atomically: a reader never sees half a file); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.to_csv(tmp, index=False)
    tmp.replace(path)
    return path
