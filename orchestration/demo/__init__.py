"""Deterministic demo data generator (landing files plus the truth to validate models against).

Entry point :func:`generate`. What each module generates:

- ``people``: people (names, e-mail, phone, address) and buyers' purchase processes (BG/NBD, Gamma-Gamma).
- ``crm``: who has a CRM record, the records (duplicates, placeholder traps), support tickets and contacts.
- ``catalog``: products, promotions and the order lines that realise an order value.
- ``shop``: devices (cookies), orders, shop accounts and returns.
- ``marketing``: campaigns, their sends with control groups, and the true uplift.
- ``web``: web sessions and events.
- ``badrows``: the deliberately bad noise rows.
- ``chunk``: one chunk of people simulated through all of the above.
- ``output``: the run's writers and counters, and the ids of a chunk's rows.
- ``landing``: the landing CSV files; ``truth``: the truth files; ``csvio``: CSV formatting.
- ``config``: fixed parameters and reference data.
"""

from orchestration.demo.generator import generate

__all__ = ["generate"]
