"""A reader of the published copy keeps one consistent view while ``publish()`` swaps the copy under it.

The dashboards hold a read-only DuckDB connection to the published copy for as long as they run. A publish
must never change what that connection reads, not even for tables it has not read yet (whose blocks are
not in DuckDB's cache and must come from the old file), and whoever connects afterwards must see the new
copy. The figures expected are worked out from how the tables are made: ``sum(range(n)) = n(n − 1) / 2``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import duckdb
import pytest

from orchestration.warehouse import publish

OLD, NEW = 300_000, 500_000  # rows of `orders`; enough for many storage blocks per table


def _build(warehouse: Path, n: int) -> None:
    """Two tables: ``orders`` with ids 0..n−1 and value 2·id, ``lines`` with two lines per order of value 1."""
    warehouse.unlink(missing_ok=True)
    with duckdb.connect(str(warehouse)) as con:
        con.execute(f"create table orders as select range as id, 2 * range as value from range({n})")
        con.execute(
            f"create table lines as select range // 2 as order_id, 1 as value, repeat('x', 40) as note "
            f"from range({2 * n})"
        )


def _figures(n: int) -> dict[str, tuple]:
    """What a reader must see of a copy built with ``n`` orders, worked out by hand."""
    id_sum = n * (n - 1) // 2
    return {
        "orders": (n, id_sum, 2 * id_sum),
        "lines": (2 * n, 2 * n),
        "join": (2 * n, 2 * 2 * id_sum),  # each order's value counted on both of its lines
    }


QUERIES = {
    "orders": "select count(*), sum(id), sum(value) from orders",
    "lines": "select count(*), sum(value) from lines",
    "join": "select count(*), sum(o.value) from lines l join orders o on o.id = l.order_id",
}


def _read(con: duckdb.DuckDBPyConnection, name: str) -> tuple:
    return tuple(int(x) for x in con.execute(QUERIES[name]).fetchone())


def _figures_in_new_process(published: Path) -> dict[str, tuple]:
    code = (
        "import duckdb, json, sys\n"
        f"queries = {QUERIES!r}\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "print(json.dumps({k: [int(x) for x in con.execute(q).fetchone()] for k, q in queries.items()}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(published)], capture_output=True, text=True, check=True, timeout=120
    )
    import json

    return {k: tuple(v) for k, v in json.loads(done.stdout).items()}


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path]:
    warehouse = tmp_path / "warehouse" / "ecrm.duckdb"
    warehouse.parent.mkdir()
    _build(warehouse, OLD)
    return warehouse, publish(warehouse, tmp_path / "published" / "ecrm_published.duckdb")


def test_an_open_reader_reads_the_old_copy_whole_after_a_publish(copies):
    warehouse, published = copies
    old, new = _figures(OLD), _figures(NEW)
    with duckdb.connect(str(published), read_only=True) as reader:
        # The reader has touched one table only: the blocks of `lines` are still on disk, not in its cache.
        assert _read(reader, "orders") == old["orders"]
        _build(warehouse, NEW)
        publish(warehouse, published)
        # Several queries after the swap, the never-read table and a join of both among them: one old view.
        for name in ("lines", "join", "orders", "lines"):
            assert _read(reader, name) == old[name], name
        # Whoever opens the published copy now gets the new one, whole. (Another process: within this one,
        # DuckDB hands a new connection to a path already open the same database instance, the old copy.)
        assert _figures_in_new_process(published) == new
        assert _read(reader, "join") == old["join"]
    with duckdb.connect(str(published), read_only=True) as fresh:
        assert {name: _read(fresh, name) for name in QUERIES} == new


def test_a_reader_querying_during_repeated_publishes_never_sees_a_mix(copies):
    """Publishes of two alternating warehouses run in a thread while the reader queries in a loop."""
    warehouse, published = copies
    old = _figures(OLD)
    other = warehouse.with_name("other.duckdb")
    _build(other, NEW)
    errors: list[BaseException] = []
    first, done = threading.Event(), threading.Event()

    def publisher() -> None:
        try:
            for source in (other, warehouse, other, warehouse, other):
                publish(source, published)
                first.set()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            first.set()
            done.set()

    with duckdb.connect(str(published), read_only=True) as reader:
        assert _read(reader, "orders") == old["orders"]
        thread = threading.Thread(target=publisher)
        thread.start()
        # The first swap is done before the reader touches `lines`: its blocks must come from the old file.
        assert first.wait(timeout=120)
        reads = 0
        while not done.is_set() or reads < 3:
            name = ("lines", "join", "orders")[reads % 3]
            assert _read(reader, name) == old[name], name
            reads += 1
        thread.join()
    assert errors == []
    # The last publish was of the NEW warehouse.
    assert _figures_in_new_process(published) == _figures(NEW)
