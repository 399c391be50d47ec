"""``ecrm import generic --mapping FILE.yml``: any CSV (WooCommerce, Magento, a home-made shop) onto one
landing entity, through a small YAML mapping.

A mapping names the landing entity and, for each contract column, where its value comes from::

    entity: shop/orders                # <source>/<entity> of data_contracts/contracts/
    columns:
      order_id: Order Number           # a header of the CSV (matched case-insensitively)
      shop_customer_id: Customer User
      email: Billing Email Address
      ordered_at:                      # a local date-time without offset, with the shop's time zone
        column: Order Date
        timezone: Europe/Berlin
      currency: {value: EUR}           # a constant for every row
      sales_channel: {value: web}
      discount_amount: {column: Cart Discount Amount, default: 0}   # empty cells take the default
      shipping_amount: Order Shipping Amount
      country: {column: Shipping Country, country: true}            # names or codes -> ISO alpha-2

Each column is a header name, or a mapping with ``column`` (a header), ``value`` (a constant), ``default``
(for empty cells), ``timezone`` (local times to ISO 8601 with that zone's offset), ``country: true``
(country names to ISO codes), ``decimal_comma: true`` (``12,50`` → ``12.50``) or ``map`` (a dict from the
export's values to the contract's, e.g. ``{processing: web}``). Contract columns the mapping leaves out are
empty (the contract says whether they may be). Every row is written; the contracts judge them at
``ecrm run``, so a mapping never hides a bad value.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import yaml

from orchestration.contracts import load_contracts
from orchestration.importers.common import (
    ImportFailed,
    ImportReport,
    column,
    country_code,
    iso_timestamps,
    read_csv_text,
    write_landing,
)

_KEYS = {"column", "value", "default", "timezone", "country", "decimal_comma", "map"}


def report_name(mapping: Path) -> str:
    """The name of an import with this mapping: ``generic_<mapping file stem>`` (its landing file name)."""
    return f"generic_{Path(mapping).stem}"


def read_mapping(mapping: Path) -> tuple[str, dict[str, dict]]:
    """The landing entity and the column rules of a mapping file, checked against the entity's contract.

    Raises :class:`ImportFailed` naming the mapping file and the problem (unknown entity, a column the
    contract does not declare, an unknown key)."""
    try:
        raw = yaml.safe_load(Path(mapping).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ImportFailed(f"{mapping}: cannot read the mapping ({exc})") from exc
    entity = str(raw.get("entity", ""))
    contracts = load_contracts()
    if entity.replace("/", "__") not in contracts:
        known = ", ".join(c.replace("__", "/") for c in contracts)
        raise ImportFailed(f"{mapping}: entity {entity!r} is not a landing entity; one of: {known}")
    contract = contracts[entity.replace("/", "__")]
    rules: dict[str, dict] = {}
    for name, rule in (raw.get("columns") or {}).items():
        if name not in contract.column_names:
            raise ImportFailed(
                f"{mapping}: {entity} has no column {name!r}; its columns: {', '.join(contract.column_names)}"
            )
        rule = {"column": rule} if isinstance(rule, str) else dict(rule or {})
        unknown = set(rule) - _KEYS
        if unknown or not ({"column", "value"} & set(rule)):
            raise ImportFailed(
                f"{mapping}: column {name!r} needs `column` or `value` (keys allowed: {', '.join(sorted(_KEYS))})"
            )
        rules[name] = rule
    return entity, rules


def convert(files: list[Path], landing: Path, report: ImportReport, mapping: Path) -> None:
    """Map every CSV among ``files`` onto the mapping's entity and write them as one landing file."""
    entity, rules = read_mapping(mapping)
    needed = sorted({r["column"] for r in rules.values() if "column" in r})
    frames = []
    for path in files:
        frame = read_csv_text(path)
        missing = [h for h in needed if column(frame, h) is None]
        if missing:
            raise ImportFailed(
                f"{path}: lacks the column(s) {', '.join(missing)} that {Path(mapping).name} maps "
                f"(the file has: {', '.join(frame.columns)})"
            )
        item = report.file(path, f"{entity} through {Path(mapping).name}")
        item.rows_read = len(frame)
        out = pd.DataFrame(index=frame.index)
        for name, rule in rules.items():
            out[name] = _values(frame, rule)
        item.written(entity, len(out))
        frames.append(out)
    result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    write_landing(landing, entity, report.format, result, report)


def _values(frame: pd.DataFrame, rule: dict) -> pd.Series:
    if "value" in rule:
        return pd.Series(rule["value"], index=frame.index, dtype="object")
    values = frame[column(frame, rule["column"])].astype("object")
    if "map" in rule:
        table = {str(k).strip().lower(): v for k, v in rule["map"].items()}
        values = values.map(lambda v: table.get(str(v).strip().lower(), v) if v is not None else None)
    if rule.get("decimal_comma"):
        values = values.map(lambda v: v.replace(".", "").replace(",", ".") if isinstance(v, str) else v)
    if "default" in rule:
        values = values.where(values.notna(), rule["default"])
    if rule.get("country"):
        # A value that names no country is kept as written, so the contract's format rule reports it.
        values = values.map(lambda v: (country_code(v) or v) if v is not None else None)
    if rule.get("timezone"):
        values = iso_timestamps(values, rule["timezone"])
    return values
