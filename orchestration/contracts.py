"""Data contracts: the columns, types and rules every landing entity must follow.

The contracts live as YAML in ``data_contracts/contracts/<source>__<entity>.yml``; this module reads them into
plain dataclasses that the generator, the loader, the Great Expectations suites and the docs all share, so a
contract is written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

CONTRACTS_DIR = Path(__file__).resolve().parent.parent / "data_contracts" / "contracts"

# DuckDB type each contract type is loaded as.
DUCKDB_TYPES = {
    "varchar": "VARCHAR",
    "integer": "BIGINT",
    "double": "DOUBLE",
    "boolean": "BOOLEAN",
    "timestamp": "TIMESTAMPTZ",
    "date": "DATE",
}


@dataclass(frozen=True)
class Column:
    """One column of a contract."""

    name: str
    type: str
    nullable: bool = True
    description: str = ""
    format: str | None = None
    allowed: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    # A timestamp of something that has happened (an order placed, a return received): a value later than
    # the load, beyond a tolerance for clock skew, is quarantined under ``not_future:<column>``.
    not_future: bool = False

    @property
    def duckdb_type(self) -> str:
        """The DuckDB type this column is loaded as."""
        return DUCKDB_TYPES[self.type]


@dataclass(frozen=True)
class ForeignKey:
    """``column`` must match ``references`` (``<source>__<entity>.<column>``)."""

    column: str
    references: str

    @property
    def ref_table(self) -> str:
        """``<source>__<entity>`` of the referenced contract."""
        return self.references.rsplit(".", 1)[0]

    @property
    def ref_column(self) -> str:
        """Referenced column name."""
        return self.references.rsplit(".", 1)[1]


@dataclass(frozen=True)
class Contract:
    """The contract of one landing entity."""

    source: str
    entity: str
    kind: str
    description: str
    primary_key: tuple[str, ...]
    columns: tuple[Column, ...]
    foreign_keys: tuple[ForeignKey, ...] = field(default_factory=tuple)
    version_column: str | None = None

    @property
    def name(self) -> str:
        """``<source>__<entity>``, the name of its raw and quarantine tables."""
        return f"{self.source}__{self.entity}"

    @property
    def column_names(self) -> list[str]:
        """Column names in contract order."""
        return [c.name for c in self.columns]

    def column(self, name: str) -> Column:
        """The column called ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")


def _parse(path: Path) -> Contract:
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    known = {"name", "type", "nullable", "description", "format", "allowed", "min", "max", "not_future"}
    for c in raw["columns"]:
        # An unquoted comma in a YAML flow mapping silently creates a key: fail loudly instead.
        if set(c) - known:
            raise ValueError(
                f"{path.name}: column {c.get('name')!r} has unknown key(s) {sorted(set(c) - known)}"
            )
    columns = tuple(
        Column(
            name=c["name"],
            type=c["type"],
            nullable=bool(c.get("nullable", True)),
            description=c.get("description", ""),
            format=c.get("format"),
            allowed=tuple(c["allowed"]) if c.get("allowed") else None,
            min=c.get("min"),
            max=c.get("max"),
            not_future=bool(c.get("not_future", False)),
        )
        for c in raw["columns"]
    )
    not_timestamps = [c.name for c in columns if c.not_future and c.type != "timestamp"]
    if not_timestamps:
        raise ValueError(f"{path.name}: not_future on non-timestamp column(s) {not_timestamps}")
    unknown = {c.type for c in columns} - DUCKDB_TYPES.keys()
    if unknown:
        raise ValueError(f"{path.name}: unknown column type(s) {sorted(unknown)}")
    return Contract(
        source=raw["source"],
        entity=raw["entity"],
        kind=raw.get("kind", "event"),
        description=raw.get("description", ""),
        primary_key=tuple(raw["primary_key"]),
        columns=columns,
        foreign_keys=tuple(ForeignKey(**fk) for fk in raw.get("foreign_keys", [])),
        version_column=raw.get("version_column"),
    )


@cache
def load_contracts(directory: Path = CONTRACTS_DIR) -> dict[str, Contract]:
    """All contracts, keyed by ``<source>__<entity>``, in a dependency-friendly order (parents first)."""
    contracts = {c.name: c for c in (_parse(p) for p in sorted(directory.glob("*.yml")))}
    ordered: dict[str, Contract] = {}

    def visit(name: str) -> None:
        if name in ordered:
            return
        for fk in contracts[name].foreign_keys:
            if fk.ref_table != name:
                visit(fk.ref_table)
        ordered[name] = contracts[name]

    for name in contracts:
        visit(name)
    return ordered
