"""BG/NBD fitted on what the warehouse built from the landing files recovers the generator's truth."""

from __future__ import annotations

import pytest
from pipeline_fixtures import Pipeline, built_pipeline, query
from support.scoring import score_clv


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return built_pipeline(tmp_path_factory)


def test_bgnbd_recovers_true_parameters_through_identity_resolution(pipeline: Pipeline) -> None:
    orders = query(pipeline, "select customer_id, ordered_at, net_revenue from marts.fct_orders")
    identity = query(pipeline, "select source, source_id, customer_id from marts.customer_identity_map")
    report = score_clv(orders, identity, pipeline.truth)
    print(report)
    # 2,000 people: a and b carry standard errors near 15 %, so the bound here is loose; the benchmark
    # benchmarks/clv_pipeline.py reports the 50,000-customer figures against the 7 % goal.
    for name, error in report["relative_errors"].items():
        assert abs(error) < 0.35, (name, report)
    assert report["auc_probability_alive_repeat_buyers"] >= 0.8
