"""The Dagster definitions load, and hold what the architecture promises."""

import dagster as dg

from orchestration.contracts import load_contracts


def test_definitions_load_with_every_layer():
    from orchestration.definitions import defs

    repo = defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    for name in load_contracts():
        assert f"raw/{name}" in keys
    for expected in (
        "staging/stg_shop__orders", "marts/fct_orders", "marts/customer_360", "ml/customer_predictions",
        "ml/association_rules", "ml/recommendations", "published_warehouse",
    ):  # fmt: skip
        assert expected in keys, expected
    job = defs.resolve_job_def("ecrm_everything")
    assert job.executor_def is dg.in_process_executor
    assert defs.resolve_schedule_def("daily_refresh").cron_schedule == "0 5 * * *"
    assert defs.resolve_sensor_def("new_landing_files") is not None


def test_customer_360_builds_after_the_models_that_feed_it():
    from orchestration.definitions import defs

    graph = defs.get_repository_def().asset_graph
    upstream, frontier = set(), [dg.AssetKey(["marts", "customer_360"])]
    while frontier:
        parents = graph.get(frontier.pop()).parent_keys - upstream
        upstream |= parents
        frontier += parents
    assert dg.AssetKey(["ml", "customer_predictions"]) in upstream
    assert dg.AssetKey(["ml", "recommendations"]) in upstream
