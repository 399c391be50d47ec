"""Notebooks are committed without outputs, and their code runs against a real published warehouse."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_has_no_outputs(path):
    nb = json.loads(path.read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            assert cell["outputs"] == [], f"{path.name}: strip outputs"
            assert cell["execution_count"] is None, f"{path.name}: strip outputs"


@pytest.mark.e2e
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_runs_on_the_published_warehouse(path, pipeline_run, monkeypatch):
    monkeypatch.setenv("ECRM_PUBLISHED", str(pipeline_run.published))
    namespace: dict = {}
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code":
            exec(compile("".join(cell["source"]), f"{path.name}", "exec"), namespace)
    assert len(namespace["summary"]) > 0
    assert set(namespace["model"].params) >= {"r", "alpha", "a", "b", "p", "q", "v"}
