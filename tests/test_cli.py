"""The ``ecrm`` command: generate, rules and the guard that protects a user's own landing files."""

from __future__ import annotations

import filecmp

import pandas as pd

from orchestration.cli import main


def test_generate_writes_landing_and_truth_deterministically(tmp_path, capsys):
    assert main(["generate", "--customers", "150", "--seed", "3", "--out", str(tmp_path / "a")]) == 0
    assert main(["generate", "--customers", "150", "--seed", "3", "--out", str(tmp_path / "b")]) == 0
    assert "Generated demo data for 150 customers" in capsys.readouterr().out
    cmp = filecmp.dircmp(
        tmp_path / "a" / "landing" / "shop" / "orders", tmp_path / "b" / "landing" / "shop" / "orders"
    )
    assert cmp.left_list
    assert not cmp.diff_files
    assert (tmp_path / "a" / "truth" / "bad_rows.csv").exists()


def test_generate_refuses_to_overwrite_a_users_landing_folder(tmp_path):
    own = tmp_path / "data" / "landing" / "shop" / "orders"
    own.mkdir(parents=True)
    (own / "my_orders.csv").write_text("order_id\nX1\n")
    assert main(["generate", "--customers", "50", "--out", str(tmp_path / "data")]) == 2
    assert (own / "my_orders.csv").read_text() == "order_id\nX1\n"


def test_rules_command_mines_a_basket_csv(tmp_path, capsys):
    baskets = pd.DataFrame(
        {"basket_id": [1, 1, 2, 2, 3, 3, 4], "item": ["tea", "milk", "tea", "milk", "tea", "milk", "bread"]}
    )
    src = tmp_path / "baskets.csv"
    baskets.to_csv(src, index=False)
    out = tmp_path / "rules.csv"
    assert (
        main(["rules", str(src), "--min-support", "0.5", "--min-confidence", "0.9", "--out", str(out)]) == 0
    )
    rules = pd.read_csv(out)
    assert len(rules) == 2  # tea => milk and milk => tea, each in 3 of 4 baskets with confidence 1
    assert rules["support"].tolist() == [0.75, 0.75]
    assert "2 rules written" in capsys.readouterr().out
