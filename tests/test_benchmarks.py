"""The pipeline benchmark runs end to end at a tiny size and its figures describe that run.

No time is asserted (these machines are shared and noisy): the test checks that every stage and every
reference point was measured, and that the row counts it reports reconcile with the landing files.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CUSTOMERS = 300


def _landing_rows(landing: Path) -> int:
    """Data rows (records, header excluded) of every landing CSV file, read as the loader's fallback does."""
    total = 0
    for path in landing.rglob("*.csv"):
        with path.open(encoding="latin-1", newline="") as fh:
            total += sum(1 for _ in csv.reader(fh, strict=False)) - 1
    return total


def test_pipeline_benchmark_measures_every_stage_and_reference(tmp_path: Path) -> None:
    work, results = tmp_path / "work", tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "benchmarks/pipeline.py", "--customers", str(CUSTOMERS), "--workdir", str(work),
         "--results", str(results)],
        cwd=REPO, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    result = json.loads((results / f"pipeline_{CUSTOMERS}.json").read_text())

    stages = [r["stage"] for r in result["stages"]]
    assert stages[0] == "generate", stages
    assert "load + contracts" in stages, stages
    assert len(stages) == 8, stages
    references = [r["stage"] for r in result["references"]]
    assert len(references) == 5, references
    assert any("read_csv" in r for r in references), references
    for row in [*result["stages"], *result["references"]]:
        assert min(row["wall_s"], row["cpu_s"], row["peak_mb"]) > 0, row
    # The total counts the stages' work and one start-up.
    work_s = sum(r["wall_s"] for r in result["stages"])
    assert abs(result["total"]["wall_s"] - work_s - result["total"]["setup_s"]) < 1e-6

    # Every landing row is in raw or in quarantine, and the figures name the run's own data.
    layers = result["rows_per_layer"]
    assert layers["raw"] + layers["quarantine"] == _landing_rows(work / "landing")
    assert min(layers["quarantine"], layers["marts"], layers["ml"]) > 0, layers
    table = (results / f"pipeline_{CUSTOMERS}.md").read_text()
    assert f"{result['orders']:,} orders" in table
    assert "| load + contracts |" in table
