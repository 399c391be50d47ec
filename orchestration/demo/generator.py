"""Deterministic demo data for the whole landing layout, with the truth needed to validate models.

``generate`` writes ``<out_dir>/landing/<source>/<entity>/*.csv`` (columns exactly as the data contracts) and
``<out_dir>/truth/*`` (which the pipeline never reads). People are produced in chunks of ``chunk_size`` buyers
(plus as many non-buying visitors) and every chunk's rows are appended to the output files, so memory stays
bounded however many customers are asked for. Each chunk draws from its own random streams derived from
``seed`` and the chunk number, and noise rows from a separate stream, so the same arguments give
byte-identical files and ``clean=True`` gives exactly the same files minus the noise rows.

Truth files:

- ``identity.csv`` (source, source_id, person_id): every CRM id (``crm``), shop account id (``shop``), guest
  checkout e-mail lower-cased and trimmed (``shop_guest``) and web anonymous id (``web``) in the landing files.
- ``persons.csv``: per person the drawn BG/NBD and Gamma-Gamma values, first purchase, dropout time and
  ``n_orders`` (all their orders in the landing files, campaign-induced ones included).
- ``model_params.json``: the true parameters (time unit week; Gamma-Gamma named as in lifetimes: p, q, v).
- ``planted_associations.csv``: the planted product pairs with their lift and support in the generated orders.
- ``campaign_uplift.csv``: true uplift per campaign (formula in :mod:`orchestration.demo.marketing`).
- ``campaign_send_uplift.csv`` (send_id, campaign_id, crm_customer_id, is_control, true_uplift): every
  targeting (treated send or control hold-out) as in the landing sends files, with that person's true uplift
  A_i * pi_i * exp(-lambda_i dG_i); its mean per campaign is ``campaign_uplift.csv``.
- ``campaign_orders.csv`` (order_id, campaign_id): the extra orders a campaign caused.
- ``bad_rows.csv`` (file, row_number, rule): every noise row, by path relative to the landing folder and
  1-based data row number.

Where things happen: :mod:`~orchestration.demo.chunk` simulates a chunk through every source system (people,
CRM, shop, marketing, web), :mod:`~orchestration.demo.output` numbers its rows,
:mod:`~orchestration.demo.landing` writes the landing files and :mod:`~orchestration.demo.truth` the truth.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np

from orchestration.contracts import load_contracts
from orchestration.demo import config as C
from orchestration.demo.badrows import BadRows
from orchestration.demo.catalog import build_catalog, build_promotions
from orchestration.demo.chunk import Scenario, simulate_chunk, visitors_for
from orchestration.demo.csvio import LandingWriter
from orchestration.demo.landing import (
    write_campaigns,
    write_catalog,
    write_chunk_landing,
    write_legacy_returns,
)
from orchestration.demo.marketing import build_campaigns
from orchestration.demo.output import Run, RunTotals, anonymous_ids, number_chunk
from orchestration.demo.people import Season
from orchestration.demo.truth import add_chunk_totals, write_chunk_truth, write_run_truth

__all__ = ["anonymous_ids", "generate"]


def _rng(seed: int, *key: int) -> np.random.Generator:
    """The random stream ``key`` of a seed: (0, k) the run-wide draws, (1, chunk, k) a chunk's steps, (2,)
    the noise rows."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def generate(
    out_dir: Path,
    customers: int = 10_000,
    seed: int = 42,
    clean: bool = False,
    chunk_size: int = 20_000,
) -> dict:
    """Write demo landing files and their truth for ``customers`` buyers (people who buy at least once).

    Existing ``landing/`` and ``truth/`` folders under ``out_dir`` are replaced. Returns a summary: rows written
    per entity (good rows), number of files, number of bad rows and the seconds taken.
    """
    if customers < 1 or chunk_size < 1:
        raise ValueError("customers and chunk_size must be positive")
    started = time.perf_counter()
    out = Path(out_dir)
    run = _start_run(out, seed, clean)
    for ci, start in enumerate(range(0, customers, chunk_size)):
        _chunk(run, ci, min(chunk_size, customers - start))
    write_catalog(run)
    write_campaigns(run)
    write_legacy_returns(run)
    write_run_truth(run)
    files = sorted(p for p in (out / "landing").rglob("*.csv"))
    return {
        "customers": customers,
        "seed": seed,
        "clean": clean,
        "rows": dict(sorted(run.rows.items())),
        "files": len(files),
        "bad_rows": len(run.writer.bad),
        "persons": run.counters.get("person", 0),
        "seconds": round(time.perf_counter() - started, 2),
    }


def _start_run(out: Path, seed: int, clean: bool) -> Run:
    """Empty ``landing/`` and ``truth/`` under ``out`` and draw what all chunks share."""
    for sub in ("landing", "truth"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
    (out / "truth").mkdir(parents=True)
    (out / "landing").mkdir(parents=True)
    scenario = Scenario(
        cat=build_catalog(_rng(seed, 0, 1)),
        promos=build_promotions(_rng(seed, 0, 2), C.PROMO_ORDER_SHARE),
        camps=build_campaigns(_rng(seed, 0, 3)),
        season=Season(),
        params=C.ModelParams(),
    )
    bad_counters: dict[str, int] = {}
    return Run(
        out=out,
        seed=seed,
        clean=clean,
        scenario=scenario,
        contracts=load_contracts(),
        writer=LandingWriter(out / "landing"),
        truth=LandingWriter(out / "truth"),
        bad=BadRows(_rng(seed, 2), bad_counters),
        totals=RunTotals.empty(len(scenario.cat.pair_a), len(scenario.camps)),
    )


def _chunk(run: Run, ci: int, n_buyers: int) -> None:
    """Simulate chunk ``ci`` of ``n_buyers`` buyers, number its rows and append its landing and truth rows."""
    first_person = run.take("person", n_buyers + visitors_for(n_buyers))

    def streams(k: int) -> np.random.Generator:
        """The chunk's k-th random stream."""
        return _rng(run.seed, 1, ci, k)

    chunk = simulate_chunk(run.scenario, streams, n_buyers, first_person)
    ids = number_chunk(run, chunk)
    add_chunk_totals(run, chunk)
    sends_table = write_chunk_landing(run, chunk, ids)
    write_chunk_truth(run, chunk, ids, sends_table)
