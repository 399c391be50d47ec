"""The data contracts as Great Expectations 1.x suites, and validation of loaded tables against them.

The YAML contracts are the single source; this module turns each into an ``ExpectationSuite`` (written as
JSON into the file data context ``data_contracts/gx/`` for users and GX Data Docs) and validates the raw
tables with ``result_format="COMPLETE"`` and the file and row number as index columns, so every failing row
can be named. The loader itself enforces the same rules in DuckDB SQL because it must check every row of
tens of millions within minutes; the GX validation in the Dagster asset checks is the independent second
opinion.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from orchestration.contracts import Contract, load_contracts
from orchestration.loading.codes import EMAIL_PATTERN, ISO_COUNTRIES, ISO_CURRENCIES
from orchestration.loading.rules import NOT_FUTURE_TOLERANCE

GX_DIR = Path(__file__).resolve().parents[2] / "data_contracts" / "gx"
INDEX_COLUMNS = ["_source_file", "_row_number"]
# The suite parameter a ``not_future`` column is checked against: the validation time plus the loader's
# tolerance. Validation runs after the load, so a row the loader accepted never fails it.
LATEST_ALLOWED = "latest_allowed_timestamp"
_CONTEXT_READY = False


def _gx():
    # Importing Great Expectations costs about five seconds: only when a suite is actually needed.
    import great_expectations as gx
    import great_expectations.expectations as gxe

    global _CONTEXT_READY
    if not _CONTEXT_READY:
        # Building a suite needs an active context: an in-memory one unless a file context is opened later.
        gx.get_context(mode="ephemeral")
        _CONTEXT_READY = True
    return gx, gxe


def suite_for(contract: Contract):
    """The expectation suite of one contract, on the typed raw table."""
    gx, gxe = _gx()
    suite = gx.ExpectationSuite(name=contract.name, meta={"description": contract.description})
    suite.add_expectation(gxe.ExpectTableColumnsToMatchSet(column_set=[*contract.column_names, *INDEX_COLUMNS,
                                                                        "_loaded_at"], exact_match=True))  # fmt: skip
    for c in contract.columns:
        if not c.nullable:
            suite.add_expectation(gxe.ExpectColumnValuesToNotBeNull(column=c.name))
        if c.allowed:
            suite.add_expectation(gxe.ExpectColumnValuesToBeInSet(column=c.name, value_set=list(c.allowed)))
        if c.format == "email":
            # The loader asks email-validator; a regex is what GX can check. EMAIL_PATTERN holds for every
            # address the library accepts and rejects doubled, leading and trailing dots, a missing dot in
            # the domain, a second @ and whitespace.
            suite.add_expectation(gxe.ExpectColumnValuesToMatchRegex(column=c.name, regex=EMAIL_PATTERN))
        elif c.format == "iso_country":
            suite.add_expectation(
                gxe.ExpectColumnValuesToBeInSet(column=c.name, value_set=sorted(ISO_COUNTRIES))
            )
        elif c.format == "currency":
            suite.add_expectation(
                gxe.ExpectColumnValuesToBeInSet(column=c.name, value_set=sorted(ISO_CURRENCIES))
            )
        if c.min is not None or c.max is not None:
            suite.add_expectation(
                gxe.ExpectColumnValuesToBeBetween(column=c.name, min_value=c.min, max_value=c.max)
            )
        if c.not_future:
            suite.add_expectation(
                gxe.ExpectColumnValuesToBeBetween(column=c.name, max_value={"$PARAMETER": LATEST_ALLOWED})
            )
    if contract.kind == "event":
        if len(contract.primary_key) == 1:
            suite.add_expectation(gxe.ExpectColumnValuesToBeUnique(column=contract.primary_key[0]))
        else:
            suite.add_expectation(gxe.ExpectCompoundColumnsToBeUnique(column_list=list(contract.primary_key)))
    return suite


def suite_json(contract: Contract) -> dict:
    """The suite as the JSON GX stores, without the random id (so the committed files are stable)."""
    data = suite_for(contract).to_json_dict()
    data.pop("id", None)
    for expectation in data["expectations"]:
        expectation.pop("id", None)
    return data


def write_suites(directory: Path = GX_DIR) -> list[Path]:
    """Write every contract's suite into the file data context at ``directory`` (``gx/expectations/``).

    The context's ``uncommitted/`` folder (validation results, Data Docs) stays out of git.
    """
    gx, _ = _gx()
    context = gx.get_context(mode="file", project_root_dir=str(directory.parent))
    written = []
    for contract in load_contracts().values():
        if contract.name in {s.name for s in context.suites.all()}:
            context.suites.delete(contract.name)
        context.suites.add(suite_for(contract))
        written.append(directory / "expectations" / f"{contract.name}.json")
    return written


def validate_frame(contract: Contract, frame: pd.DataFrame) -> dict:
    """Validate a raw table (as a DataFrame) against its suite.

    Returns ``success``, ``evaluated``, ``failed`` (names of failed expectations) and ``failing_rows``
    (file and row number of up to 20 failing rows per expectation).
    """
    gx, _ = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    suite = context.suites.add(suite_for(contract))
    batch_definition = (
        context.data_sources.add_pandas("raw").add_dataframe_asset(contract.name)
        .add_batch_definition_whole_dataframe("all")
    )  # fmt: skip
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(
        suite,
        result_format={"result_format": "COMPLETE", "unexpected_index_column_names": INDEX_COLUMNS},
        expectation_parameters={LATEST_ALLOWED: datetime.now(UTC) + NOT_FUTURE_TOLERANCE},
    )
    failed, failing_rows = [], []
    for r in result.results:
        if not r.success:
            column = r.expectation_config.kwargs.get("column", "")
            failed.append(f"{r.expectation_config.type}({column})")
            for row in (r.result.get("unexpected_index_list") or [])[:20]:
                failing_rows.append(f"{row.get('_source_file')} row {row.get('_row_number')}")
    return {"success": bool(result.success), "evaluated": len(result.results), "failed": failed,
            "failing_rows": failing_rows}  # fmt: skip


def contract_reference() -> str:
    """The Markdown reference of every contract: columns, types, rules, keys and foreign keys."""
    lines = [
        "# Data contract reference",
        "",
        "Generated from `data_contracts/contracts/*.yml` by `python -m orchestration.loading.gx_contracts`;",
        "do not edit by hand. Rule names are explained in `LANDING.md`.",
        "",
    ]
    for contract in load_contracts().values():
        lines += [
            f"## {contract.source} / {contract.entity}",
            "",
            f"{contract.description}",
            "",
            f"Folder `landing/{contract.source}/{contract.entity}/` · kind **{contract.kind}** "
            f"({'latest version per key wins' if contract.kind == 'snapshot' else 'one row per key'}) · "
            f"primary key `{', '.join(contract.primary_key)}`",
            "",
            "| column | type | required | rules | description |",
            "|---|---|---|---|---|",
        ]
        for c in contract.columns:
            rules = []
            if c.format == "phone":
                rules.append("phone (read as E.164 in staging, never quarantined)")
            elif c.format:
                rules.append(f"format {c.format}")
            if c.not_future:
                rules.append(f"not after the load (+ {NOT_FUTURE_TOLERANCE.days} day)")
            if c.allowed:
                rules.append("one of " + ", ".join(f"`{a}`" for a in c.allowed))
            if c.min is not None:
                rules.append(f"≥ {c.min:g}")
            if c.max is not None:
                rules.append(f"≤ {c.max:g}")
            lines.append(
                f"| `{c.name}` | {c.type} | {'yes' if not c.nullable else 'no'} | {'; '.join(rules)} | {c.description} |"
            )
        for fk in contract.foreign_keys:
            lines.append("")
            lines.append(f"Foreign key: `{fk.column}` must exist in `{fk.references}`.")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    write_suites()
    (GX_DIR.parent / "CONTRACTS.md").write_text(contract_reference(), encoding="utf-8")
    print("wrote data_contracts/gx/expectations/*.json and data_contracts/CONTRACTS.md")
