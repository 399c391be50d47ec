"""One load asset per landing entity (``raw/<source>__<entity>``) and its contract checks."""

from pathlib import Path

import dagster as dg

from orchestration.contracts import Contract, load_contracts
from orchestration.loading.loader import load_entity, q
from orchestration.resources import LandingResource, WarehouseResource

# A quarantine share above this is worth a look, but never blocks: the rows are set aside, not lost.
QUARANTINE_WARN_SHARE = 0.05
# Great Expectations validates through pandas: beyond this many rows a fixed random sample is validated,
# which keeps the second opinion cheap (the SQL loader has already checked every row).
GX_MAX_ROWS = 200_000


def raw_key(name: str) -> dg.AssetKey:
    """Asset key of a raw table; dbt's source ``raw`` maps to the same keys."""
    return dg.AssetKey(["raw", name])


def build_load_asset(contract: Contract) -> dg.AssetsDefinition:
    """The asset loading every landing file of ``contract``'s entity through its contract."""
    parents = sorted({fk.ref_table for fk in contract.foreign_keys if fk.ref_table != contract.name})

    @dg.asset(
        key=raw_key(contract.name),
        group_name="raw",
        kinds={"duckdb"},
        deps=[raw_key(p) for p in parents],
        description=f"{contract.description} Loaded from landing/{contract.source}/{contract.entity}/ "
        f"through its data contract; bad rows go to quarantine.{contract.name}.",
    )
    def _load(context: dg.AssetExecutionContext, warehouse: WarehouseResource, landing: LandingResource):
        with warehouse.connect() as con:
            results = load_entity(con, Path(landing.path), contract)
            raw_rows = con.execute(f"select count(*) from raw.{q(contract.name)}").fetchone()[0]
        for r in results:
            if r.status == "rejected":
                context.log.warning(f"rejected {r.error}")
        return dg.MaterializeResult(
            metadata={
                "files": len(results),
                "files_loaded": sum(r.status == "loaded" for r in results),
                "files_unchanged": sum(r.status == "unchanged" for r in results),
                "files_rejected": sum(r.status == "rejected" for r in results),
                "rows_read": sum(r.rows_read for r in results),
                "rows_loaded": sum(r.rows_loaded for r in results),
                "rows_quarantined": sum(r.rows_quarantined for r in results),
                "dagster/row_count": int(raw_rows),
            }
        )

    return _load


def build_contract_checks(contract: Contract) -> list[dg.AssetChecksDefinition]:
    """Checks on a raw table: counts reconcile (blocking), key unique (blocking), quarantine share (warn)."""
    key = raw_key(contract.name)
    table = f"raw.{q(contract.name)}"

    @dg.asset_check(asset=key, name="rows_reconcile", blocking=True)
    def rows_reconcile(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """Every file: rows_read = rows_loaded + rows_quarantined; raw holds exactly the loaded rows."""
        with warehouse.connect(read_only=True) as con:
            bad_files = con.execute(
                "select path from ops.load_manifest where source = ? and entity = ? "
                "and rows_read <> rows_loaded + rows_quarantined + coalesce(rows_erased, 0)",
                [contract.source, contract.entity],
            ).fetchall()
            expected = con.execute(
                "select coalesce(sum(rows_loaded), 0) from ops.load_manifest where source = ? and entity = ?",
                [contract.source, contract.entity],
            ).fetchone()[0]
            actual = con.execute(f"select count(*) from {table}").fetchone()[0]
        return dg.AssetCheckResult(
            passed=not bad_files and expected == actual,
            metadata={
                "files_not_reconciling": len(bad_files),
                "manifest_rows_loaded": int(expected),
                "raw_rows": int(actual),
            },
        )

    @dg.asset_check(asset=key, name="primary_key_unique", blocking=True)
    def primary_key_unique(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """Event entities: one row per key. Snapshot entities: one row per key within each export file
        (the same version may arrive in several exports; staging keeps the latest)."""
        cols = [*contract.primary_key] + (["_source_file"] if contract.kind == "snapshot" else [])
        key_sql = ", ".join(q(c) for c in cols)
        with warehouse.connect(read_only=True) as con:
            dupes = con.execute(
                f"select count(*) from (select {key_sql} from {table} group by all having count(*) > 1)"
            ).fetchone()[0]
        return dg.AssetCheckResult(passed=dupes == 0, metadata={"duplicate_keys": int(dupes)})

    @dg.asset_check(asset=key, name="quarantine_share")
    def quarantine_share(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """Warn when more than 5% of this entity's rows were set aside, or a file was rejected."""
        with warehouse.connect(read_only=True) as con:
            read, quarantined, rejected = con.execute(
                "select coalesce(sum(rows_read), 0), coalesce(sum(rows_quarantined), 0), "
                "count(*) filter (where status = 'rejected') "
                "from ops.load_manifest where source = ? and entity = ?",
                [contract.source, contract.entity],
            ).fetchone()
        share = quarantined / read if read else 0.0
        return dg.AssetCheckResult(
            passed=share <= QUARANTINE_WARN_SHARE and rejected == 0,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "rows_read": int(read),
                "rows_quarantined": int(quarantined),
                "share": float(share),
                "files_rejected": int(rejected),
            },
        )

    @dg.asset_check(asset=key, name="great_expectations_suite", blocking=True)
    def great_expectations_suite(warehouse: WarehouseResource) -> dg.AssetCheckResult:
        """The raw table passes its Great Expectations suite (a second opinion on the SQL loader)."""
        from orchestration.loading.gx_contracts import validate_frame

        with warehouse.connect(read_only=True) as con:
            total = con.execute(f"select count(*) from {table}").fetchone()[0]
            sample = (
                f" using sample reservoir({GX_MAX_ROWS} rows) repeatable (42)" if total > GX_MAX_ROWS else ""
            )
            frame = con.execute(f"select * from {table}{sample}").fetch_df()
        outcome = validate_frame(contract, frame)
        return dg.AssetCheckResult(
            passed=outcome["success"],
            metadata={"rows_validated": len(frame), "rows_total": int(total),
                      "expectations": outcome["evaluated"], "failed": ", ".join(outcome["failed"]) or "none",
                      "failing_rows": "; ".join(outcome["failing_rows"][:20]) or "none"},
        )  # fmt: skip

    return [rows_reconcile, primary_key_unique, quarantine_share, great_expectations_suite]


load_assets = [build_load_asset(c) for c in load_contracts().values()]
contract_checks = [check for c in load_contracts().values() for check in build_contract_checks(c)]
