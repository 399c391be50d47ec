"""Quoting SQL identifiers and literals for the statements the loader builds from contracts."""


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """Quote an SQL string literal (used only for values from contracts, never from data)."""
    return "'" + str(value).replace("'", "''") + "'"
