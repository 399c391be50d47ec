"""Importers: a shop platform's own export turned into the landing layout (``ecrm import FORMAT PATH...``).

Each format is one module with a ``convert(files, landing, report, **options)`` function that recognises its
files by their header, maps columns by name and writes one landing CSV per entity through
:func:`orchestration.importers.common.write_landing`. Importers only convert; the contracts still judge
every row when ``ecrm run`` loads the files.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from orchestration.importers.common import ImportFailed, ImportReport, expand_paths

# FORMAT on the command line -> module with ``convert``.
FORMATS = {
    "olist": "orchestration.importers.olist",
    "online-retail": "orchestration.importers.online_retail",
    "shopify": "orchestration.importers.shopify",
    "generic": "orchestration.importers.generic",
}

__all__ = ["FORMATS", "ImportFailed", "ImportReport", "run_import"]


def run_import(format_name: str, paths: list[Path | str], landing: Path, **options) -> ImportReport:
    """Convert the export at ``paths`` (files or folders) of ``format_name`` into ``landing`` and save the
    report beside it (``landing/.imports/<format>.json``), which ``ecrm run`` reconciles with the load
    manifest. Raises :class:`ImportFailed` with a message naming the file and what was expected."""
    if format_name not in FORMATS:
        raise ImportFailed(f"unknown format {format_name!r}; known: {', '.join(FORMATS)}")
    module = importlib.import_module(FORMATS[format_name])
    files = expand_paths(paths)
    report = ImportReport(
        format=module.report_name(**options) if hasattr(module, "report_name") else format_name
    )
    module.convert(files, Path(landing), report, **options)
    report.save(Path(landing))
    return report
