"""On generated orders, the rules the pipeline mines contain every planted association."""

from __future__ import annotations

import pandas as pd
import pytest
from pipeline_fixtures import Pipeline, built_pipeline, query

from orchestration.analytics.basket import mine_rules
from orchestration.assets.analytics import PRODUCT_RULES


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory) -> Pipeline:
    return built_pipeline(tmp_path_factory)


def test_planted_associations_are_found_with_lift_above_1_5(pipeline: Pipeline) -> None:
    baskets = query(pipeline, "select order_id as basket_id, product_id as item from marts.fct_order_lines")
    rules = mine_rules(baskets, **PRODUCT_RULES)
    strong = rules[rules["lift"] > 1.5]
    found = set(zip(strong["antecedent_key"], strong["consequent_key"], strict=True))
    planted = pd.read_csv(pipeline.truth / "planted_associations.csv", dtype=str)
    pairs = set(zip(planted["antecedent_product_id"], planted["consequent_product_id"], strict=True))
    assert len(pairs) >= 5
    assert pairs <= found, pairs - found
