"""Charts the pages build by hand (no Plotly Express function draws them), checked on worked examples."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

DASHBOARDS = Path(__file__).resolve().parents[1] / "dashboards"


@pytest.fixture
def components(monkeypatch):
    monkeypatch.syspath_prepend(str(DASHBOARDS))
    import components

    return components


def test_rule_graph_draws_one_trace_per_line_width_with_every_rule(components):
    """Four rules among items A, B and C (on the unit circle at 0°, 120° and 240°, in name order). Widths
    are 1 + 5 · lift / 4 rounded: A→B (lift 4) 6 px, B→C (lift 2) 3.5 → 4 px, A→C (lift 1) 2.25 → 2 px and
    C→A (lift 1.1) 2.375 → 2 px. So three line traces (2, 4 and 6 px; the 2 px one holds both A–C segments,
    each followed by a gap) and the trace of the items' points."""
    rules = pd.DataFrame(
        {
            "antecedent_names": ["A", "B", "A", "C"],
            "consequent_names": ["B", "C", "C", "A"],
            "lift": [4.0, 2.0, 1.0, 1.1],
            "confidence": [0.8, 0.5, 0.25, 0.3],
        }
    )
    fig = components.rule_graph(rules, "Rules")
    lines, points = fig.data[:-1], fig.data[-1]
    assert [t.line.width for t in lines] == [2, 4, 6]
    a, c = (1.0, 0.0), (math.cos(4 * math.pi / 3), math.sin(4 * math.pi / 3))
    thin = lines[0]
    assert list(thin.x) == pytest.approx([a[0], c[0], None, c[0], a[0], None], abs=1e-12)
    assert list(thin.y) == pytest.approx([a[1], c[1], None, c[1], a[1], None], abs=1e-12)
    assert list(thin.text) == [
        "A → C: lift 1.0, confidence 25%", "A → C: lift 1.0, confidence 25%", None,
        "C → A: lift 1.1, confidence 30%", "C → A: lift 1.1, confidence 30%", None,
    ]  # fmt: skip
    assert list(lines[2].text[:1]) == ["A → B: lift 4.0, confidence 80%"]
    assert list(points.text) == ["A", "B", "C"]
    assert fig.layout.title.text == "Rules"
