"""``ecrm forget``: erase a person everywhere (GDPR art. 17) and keep them out of later loads.

One module per step (:mod:`.resolve`, :mod:`.rows`, :mod:`.files`), the shared SQL helpers in :mod:`.database`,
the report in :mod:`.report`, the errors in :mod:`.errors`, and the command that runs the steps in order in
:mod:`.command`.

One call of :func:`forget`, holding the warehouse lock throughout:

1. **Resolve** the identifier given (e-mail, phone, unified customer id, or a source record) to one customer
   of ``marts.customer_identity_map`` and every record the identity graph joined into them: CRM records, shop
   accounts, guest e-mails, browsers. Their e-mails and phones are theirs only when no other customer's
   record holds them too (a household's shared address stays with the other person; placeholders such as
   ``test@test.com`` stay with everybody). An e-mail or phone held by several customers is refused as
   ambiguous: the operator chooses with ``--customer-id``.
2. **Plan**: find every row of raw and quarantine that is theirs (:mod:`orchestration.loading.erasure`
   decides what that means, for this command and for the loader alike), parents first, adding each erased
   row's key so the rows hanging off it follow. A dry run stops here and reports the counts.
3. **Erase**, in one transaction: record the erasure (``ops.erasure_log``) and the keyed hashes of every
   identifier (``ops.erased_identifiers``), delete the rows from raw and quarantine, move their counts in
   ``ops.load_manifest`` to ``rows_erased`` (so every file still reconciles), and delete every row of the
   tables Python writes (``ml.*``, ``ops.*`` such as the phone lookup) that holds one of their identifiers.
4. **Rebuild** everything downstream with the normal pipeline (:func:`orchestration.pipeline.run_pipeline`):
   landing files are unchanged, so it loads nothing new; dbt rebuilds staging, intermediate tables and marts
   from raw, the models are refitted and the copy is published. Rebuilding, rather than deleting from each
   mart, is what also takes the person out of aggregates (a cohort, a daily total, an association rule),
   with the same code that built them.
5. **Exports**: rewrite every CSV under the exports folder without the rows that name them.
6. **Compact** the warehouse: DuckDB keeps deleted rows in the file (marked deleted, not overwritten) until
   their row group is rewritten, and freed blocks keep their old bytes; measured here, an erased e-mail was
   still in the file 14 times after delete and checkpoint. ``COPY FROM DATABASE`` into a new file writes live
   rows only; the new file replaces the old one and is published again (publishing copies bytes).
7. **Verify**: no table or view of the warehouse or of the published copy holds any of their identifiers,
   and their e-mails and phones are not in the bytes of either file.

Landing files are never touched: they are the shop's, and re-reading them is harmless (the loader drops the
person's rows). The shop must erase the person in its own systems (shop, CRM, web analytics, e-mail tool)
and tell the recipients of exports already sent (art. 17(2), 19).
"""

from orchestration.forget.command import forget
from orchestration.forget.database import find_identifiers
from orchestration.forget.errors import AlreadyErased, ForgetError, PersonNotFound
from orchestration.forget.files import ERASED_MARK, bytes_found, compact, scrub_audit_log, scrub_exports
from orchestration.forget.report import ErasureReport
from orchestration.forget.resolve import Person, resolve

__all__ = [
    "ERASED_MARK",
    "AlreadyErased",
    "ErasureReport",
    "ForgetError",
    "Person",
    "PersonNotFound",
    "bytes_found",
    "compact",
    "find_identifiers",
    "forget",
    "resolve",
    "scrub_audit_log",
    "scrub_exports",
]
