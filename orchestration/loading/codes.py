"""Reference code lists and validators behind the contracts' ``format`` rules.

Countries and currencies come from ``pycountry``, which ships the ISO 3166-1 and ISO 4217 tables of the
Debian iso-codes project and follows each amendment (ZWG in 2024, XCG in 2025): upgrading the pin is how
the lists stay current. E-mail syntax is ``email-validator``'s verdict; see :func:`invalid_emails`.
"""

from __future__ import annotations

from collections.abc import Iterable

import email_validator
import pycountry

# Kosovo has no ISO 3166-1 code yet; "XK" is the user-assigned code the European Commission, Shopify,
# Stripe and libphonenumber all use, so shop exports carry it.
USER_ASSIGNED_COUNTRIES = frozenset({"XK"})

ISO_COUNTRIES = frozenset(c.alpha_2 for c in pycountry.countries) | USER_ASSIGNED_COUNTRIES
"""ISO 3166-1 alpha-2 codes of the countries that exist today, plus :data:`USER_ASSIGNED_COUNTRIES`.

Withdrawn codes (ISO 3166-3: AN Netherlands Antilles 2010, CS Serbia and Montenegro 2006, …) are
rejected: none has been in use for fifteen years, and a phone number cannot be read in a country that
no longer has a numbering plan.
"""

# ISO 4217 codes that are not money: "XXX" means no currency is involved, "XTS" is reserved for tests.
_NOT_MONEY = frozenset({"XXX", "XTS"})

WITHDRAWN_CURRENCIES = {
    # Last day as legal tender (CLDR's territory data; the lev from Bulgaria's euro law).
    "LTL": "EUR",  # Lithuanian litas, 2015-01-15 (cash, beside the euro)
    "BYR": "BYN",  # Belarusian ruble before the 2016 redenomination, 2016-12-31
    "STD": "STN",  # São Tomé and Príncipe dobra before the 2018 redenomination, 2017-12-31
    "MRO": "MRU",  # Mauritanian ouguiya before the 2018 redenomination, 2018-06-30
    "VEF": "VES",  # Venezuelan bolívar fuerte, 2018-08-20
    "CUC": "CUP",  # Cuban convertible peso, 2021-01-01
    "HRK": "EUR",  # Croatian kuna, 2023-01-14
    "SLL": "SLE",  # Sierra Leonean leone before the 2022 redenomination, 2023-12-31
    "ZWL": "ZWG",  # Zimbabwe dollar, replaced by Zimbabwe Gold, 2024-08-31
    "ANG": "XCG",  # Netherlands Antillean guilder, replaced by the Caribbean guilder, 2025-06-30
    "BGN": "EUR",  # Bulgarian lev, 2026-01-31
}
"""ISO 4217 codes withdrawn in 2015 or later (ISO 4217 list three), with the code that replaced them.

An order paid in kuna in 2022 was paid correctly: its amount is right in the currency it names, and
quarantining it would delete real revenue from the history a CRM exists to analyse. So codes withdrawn
within the ten years of order history a shop typically exports are accepted; older ones (DEM, FRF, EEK,
LVL, …) are not, because no shop export still holds them and they are far likelier to be typos. The list
grows only when ISO withdraws a currency (about once a year), pycountry has no table of withdrawn codes,
and a missing entry shows itself as rows quarantined under ``format:currency``, never as silent loss.
"""

ISO_CURRENCIES = (frozenset(c.alpha_3 for c in pycountry.currencies) - _NOT_MONEY) | frozenset(
    WITHDRAWN_CURRENCIES
)
"""ISO 4217 codes of current currencies and funds (pycountry), plus :data:`WITHDRAWN_CURRENCIES`."""

# Options of every e-mail check, and why (see DECISIONLOG.md, "Rules from maintained code lists"):
# * no DNS: a load must give the same verdict offline and tomorrow; deliverability is the sender's job;
# * internationalised local parts (RFC 6531) are real customers' addresses: "jörg@bücher.de" loads;
# * quoted local parts ("john doe"@x.de), IP literals (a@[1.2.3.4]) and display names (Anna <a@x.de>)
#   are legal in RFC 5322 but no shop customer has one: seen in an export, they are a parsing accident;
# * special-use domains (.test, .local, .invalid, .onion, .arpa, .localhost) cannot receive mail at all.
EMAIL_OPTIONS = {
    "check_deliverability": False,
    "allow_smtputf8": True,
    "allow_quoted_local": False,
    "allow_domain_literal": False,
    "allow_display_name": False,
    "allow_empty_local": False,
    "globally_deliverable": True,
}

# A plain ASCII address that email-validator always accepts: dot-atom local part of common characters,
# hostname labels of letters and digits joined by single hyphens (so no "xn--" Punycode and no "ab--"
# label the library would have to judge), a letter-only top-level domain, and (checked beside it, see
# EMAIL_FAST_PATH_MAX_LENGTH) no length limit within reach. Special-use domains are excluded separately.
# The loader accepts such values in SQL without asking the library; tests check the agreement.
EMAIL_FAST_PATH = r"[A-Za-z0-9_+-]+(\.[A-Za-z0-9_+-]+)*@([A-Za-z0-9]+(-[A-Za-z0-9]+)*\.)+[A-Za-z]{2,}"
# At most 64 characters: the local part (≤ 64) and every domain label (≤ 63) are then within RFC 5321.
EMAIL_FAST_PATH_MAX_LENGTH = 64
SPECIAL_USE_DOMAINS = tuple(email_validator.SPECIAL_USE_DOMAIN_NAMES)

# What every address email-validator accepts looks like, for the Great Expectations suites (a regex is
# what GX can check on a column): one @, no whitespace, no empty dot-separated part (so no leading,
# trailing or doubled dot) and a dot in the domain. Weaker than the loader's check, never stricter.
EMAIL_PATTERN = r"^[^@\s.]+(\.[^@\s.]+)*@[^@\s.]+(\.[^@\s.]+)+$"


def is_valid_email(address: str) -> bool:
    """email-validator's syntax verdict on one address with :data:`EMAIL_OPTIONS` (no DNS look-up)."""
    try:
        email_validator.validate_email(address, **EMAIL_OPTIONS)
    except email_validator.EmailNotValidError:
        return False
    return True


def invalid_emails(addresses: Iterable[str]) -> list[str]:
    """The addresses of ``addresses`` that email-validator rejects (call it once per distinct value)."""
    return [a for a in addresses if not is_valid_email(a)]
