"""The truth files under ``truth/`` (described in :mod:`~orchestration.demo.generator`), which the pipeline
never reads: per chunk the identities, persons, campaign-induced orders and per-send uplift; at the end of a
run the planted associations, campaign uplift, model parameters and the list of bad rows.
"""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa

from orchestration.demo import config as C
from orchestration.demo.chunk import Chunk
from orchestration.demo.csvio import NA_TS, STRING, booleans, decimals, integers, iso_utc
from orchestration.demo.marketing import ATTRIBUTION_DAYS
from orchestration.demo.output import ChunkIds, Run, lookup, texts


def add_chunk_totals(run: Run, chunk: Chunk) -> None:
    """Add the chunk's orders holding each planted pair's products and its campaign totals to the run's."""
    ln = chunk.orders.lines
    cat, totals = run.scenario.cat, run.totals
    for k, (a, b) in enumerate(zip(cat.pair_a, cat.pair_b, strict=True)):
        with_a = np.unique(ln.order_idx[ln.product == a])
        with_b = np.unique(ln.order_idx[ln.product == b])
        totals.pair_counts[k] += [len(with_a), len(with_b), len(np.intersect1d(with_a, with_b))]
    totals.n_orders += len(chunk.orders)
    totals.uplift_sum += chunk.sends.uplift_sum
    totals.targeted += chunk.sends.targeted
    totals.treated += chunk.sends.treated


def write_chunk_truth(run: Run, chunk: Chunk, ids: ChunkIds, sends_table: pa.Table) -> None:
    """Append the chunk's rows of every per-chunk truth file (``sends_table``: the landing sends table)."""
    write_send_uplift(run, chunk, sends_table)
    write_identity(run, chunk, ids)
    write_campaign_orders(run, chunk, ids)
    write_persons(run, chunk, ids)


def write_send_uplift(run: Run, chunk: Chunk, sends_table: pa.Table) -> None:
    """``campaign_send_uplift.csv``: every send as in the landing files with the person's true uplift."""
    run.truth.append(
        "campaign_send_uplift.csv",
        pa.table(
            {
                "send_id": sends_table.column("send_id"),
                "campaign_id": sends_table.column("campaign_id"),
                "crm_customer_id": sends_table.column("crm_customer_id"),
                "is_control": sends_table.column("is_control"),
                "true_uplift": decimals(chunk.sends.true_uplift[chunk.sends.file_order()]),
            }
        ),
    )


def write_identity(run: Run, chunk: Chunk, ids: ChunkIds) -> None:
    """``identity.csv``: the person behind every CRM record, shop account, guest e-mail (lower-cased and
    trimmed, once) and cookie with sessions."""
    orders, recs, sessions, devices = chunk.orders, chunk.recs, chunk.sessions, chunk.devices
    ap = chunk.accounts.person
    guest = orders.is_guest
    g_email = np.array([e.strip().lower() for e in orders.email[guest]], dtype=object)
    g_uniq, g_first = np.unique(g_email, return_index=True)
    g_person = orders.person[guest][g_first]
    used_dev = np.unique(sessions.device)

    def source(name: str, n: int) -> pa.Array:
        """``n`` times the source name."""
        return pa.array(np.full(n, name, dtype=object), type=STRING)

    ident = pa.table(
        {
            "source": pa.concat_arrays(
                [
                    source("crm", len(recs)),
                    source("shop", len(ap)),
                    source("shop_guest", len(g_uniq)),
                    source("web", len(used_dev)),
                ]
            ),
            "source_id": pa.concat_arrays(
                [ids.crm, ids.account, texts(g_uniq), lookup(ids.anonymous, used_dev)]
            ),
            "person_id": pa.concat_arrays(
                [
                    lookup(ids.person, recs.person),
                    lookup(ids.person, ap),
                    lookup(ids.person, g_person),
                    lookup(ids.person, devices.person[used_dev]),
                ]
            ),
        }
    )
    run.truth.append("identity.csv", ident)


def write_campaign_orders(run: Run, chunk: Chunk, ids: ChunkIds) -> None:
    """``campaign_orders.csv``: the orders a campaign caused."""
    orders = chunk.orders
    induced = np.flatnonzero(orders.campaign >= 0)
    run.truth.append(
        "campaign_orders.csv",
        pa.table(
            {
                "order_id": lookup(ids.order, induced),
                "campaign_id": lookup(
                    pa.array(run.scenario.camps.campaign_id, type=STRING), orders.campaign[induced]
                ),
            }
        ),
    )


def write_persons(run: Run, chunk: Chunk, ids: ChunkIds) -> None:
    """``persons.csv``: per person the drawn BG/NBD and Gamma-Gamma values, first purchase, dropout and the
    number of orders in the landing files (campaign-induced ones included)."""
    buyers, n_p, n_b = chunk.buyers, chunk.n_people, chunk.n_buyers
    n_v = n_p - n_b
    n_ord = np.bincount(chunk.orders.person, minlength=n_p)
    is_buyer = np.arange(n_p) < n_b
    pad = np.zeros(n_v)
    first = np.concatenate([buyers.first_at, np.full(n_v, NA_TS)])
    drop = np.concatenate([buyers.dropout_at, np.full(n_v, NA_TS)])
    run.truth.append(
        "persons.csv",
        pa.table(
            {
                "person_id": ids.person,
                "is_buyer": booleans(is_buyer),
                "lambda": decimals(np.concatenate([buyers.lam, pad]), is_buyer),
                "p": decimals(np.concatenate([buyers.p, pad]), is_buyer),
                "nu": decimals(np.concatenate([buyers.nu, pad]), is_buyer),
                "first_purchase_at": iso_utc(first),
                "dropout_at": iso_utc(drop),
                "is_alive_at_end": booleans(is_buyer & (drop == NA_TS)),
                "n_orders": integers(n_ord),
            }
        ),
    )


def write_run_truth(run: Run) -> None:
    """The end-of-run truth files: planted associations, campaign uplift, model parameters, an empty
    ``campaign_orders.csv`` if no campaign caused an order, and ``bad_rows.csv``."""
    write_planted_associations(run)
    write_campaign_uplift(run)
    write_model_params(run)
    induced = run.out / "truth" / "campaign_orders.csv"
    if not induced.exists():
        induced.write_text("order_id,campaign_id\n", encoding="utf-8")
    write_bad_rows(run)


def write_planted_associations(run: Run) -> None:
    """``planted_associations.csv``: each planted pair's lift and support in all generated orders."""
    cat = run.scenario.cat
    n = max(run.totals.n_orders, 1)
    na, nb, nab = run.totals.pair_counts.T
    lift = np.where(na * nb > 0, nab * n / np.maximum(na * nb, 1), 0.0)
    run.truth.append(
        "planted_associations.csv",
        pa.table(
            {
                "antecedent_product_id": texts(cat.product_id[cat.pair_a]),
                "consequent_product_id": texts(cat.product_id[cat.pair_b]),
                "expected_lift": texts([f"{x:.4f}" for x in lift]),
                "support": texts([f"{x:.6f}" for x in nab / n]),
            }
        ),
    )


def write_campaign_uplift(run: Run) -> None:
    """``campaign_uplift.csv``: per campaign the mean true uplift over everyone targeted."""
    uplift = run.totals.uplift_sum / np.maximum(run.totals.targeted, 1)
    run.truth.append(
        "campaign_uplift.csv",
        pa.table(
            {
                "campaign_id": texts(run.scenario.camps.campaign_id),
                "true_uplift": texts([f"{x:.6f}" for x in uplift]),
                "attribution_days": integers(np.full(len(uplift), ATTRIBUTION_DAYS)),
            }
        ),
    )


def write_model_params(run: Run) -> None:
    """``model_params.json``: the true BG/NBD and Gamma-Gamma parameters (time unit week), window and seed."""
    p = run.scenario.params
    (run.out / "truth" / "model_params.json").write_text(
        json.dumps(
            {
                "time_unit": "week",
                "observation_start": C.OBS_START_ISO,
                "observation_end": C.OBS_END_ISO,
                "bgnbd": {"r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b},
                "gamma_gamma": {"p": p.gg_p, "q": p.gg_q, "v": p.gg_v},
                "seed": run.seed,
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )


def write_bad_rows(run: Run) -> None:
    """``bad_rows.csv``: every noise row written to the landing files, by file and 1-based data row."""
    bad = sorted(run.writer.bad)
    header = "file,row_number,rule\n"
    body = "".join(f"{f},{r},{rule}\n" for f, r, rule in bad)
    (run.out / "truth" / "bad_rows.csv").write_text(header + body, encoding="utf-8")
