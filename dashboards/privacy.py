"""Privacy by default: the dashboard's role and the masking of e-mail addresses and phone numbers.

The role is configuration, never a control on a page: ``ecrm dashboard --role analyst`` (which sets
``ECRM_DASHBOARD_ROLE`` for the Streamlit process) or ``ECRM_DASHBOARD_ROLE=analyst``. Any other value, or
none, is the ``manager`` role, which sees contacts masked (``a***@gmail.com``, ``+49 *** ** 67``).
"""

from __future__ import annotations

import re

import pandas as pd
import phonenumbers

from orchestration import settings

CONTACT_COLUMNS = ("email", "phone", "phone_e164")
CONTACT_SUFFIXES = ("_email", "_phone")


def role() -> str:
    """The dashboard's role: ``analyst`` when ``ECRM_DASHBOARD_ROLE`` says so, else ``manager``."""
    return settings.dashboard_role()


def user() -> str | None:
    """Who runs the dashboard (``ecrm dashboard --user`` / ``ECRM_DASHBOARD_USER``), for the audit log."""
    return settings.dashboard_user()


def shows_contacts() -> bool:
    """Whether the current role sees e-mail addresses and phone numbers in clear (only ``analyst``)."""
    return role() == "analyst"


def mask_email(value: str) -> str:
    """``anna.schmidt@gmail.com`` → ``a***@gmail.com``: the first character of the local part and the domain.

    A value without ``@`` keeps only its first character. Empty values stay as they are.
    """
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return value
    text = str(value).strip()
    if not text:
        return text
    local, at, domain = text.partition("@")
    if not at:
        return text[0] + "***"
    return f"{local[:1]}***@{domain}"


def mask_phone(value: str) -> str:
    """``+49 151 2345 6767`` → ``+49 *** ** 67``: the country calling code and the last two digits.

    The country code is read with ``phonenumbers``; a number it cannot parse keeps a leading ``+`` and its
    last two digits only. Empty values stay as they are.
    """
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return value
    text = str(value).strip()
    digits = re.sub(r"\D", "", text)
    if not digits:
        return text
    try:
        # A number written without its country code is read in the shop's home market's numbering plan.
        number = phonenumbers.parse(text, settings.default_phone_country())
        prefix = f"+{number.country_code} "
    except phonenumbers.NumberParseException:
        prefix = "+" if text.startswith("+") else ""
    return f"{prefix}*** ** {digits[-2:]}"


def is_contact_column(name: str) -> bool:
    """Whether a column holds an e-mail address or a phone number (``email``, ``phone``, ``phone_e164``,
    ``*_email``, ``*_phone``)."""
    name = str(name).lower()
    return name in CONTACT_COLUMNS or name.endswith(CONTACT_SUFFIXES)


def _masker(name: str):
    return mask_email if "email" in str(name).lower() else mask_phone


def mask_contacts(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` with its contact columns masked, unless the role is ``analyst`` (then ``frame``).

    Also takes a Series (one customer's row): its contact entries are masked the same way.
    """
    if frame is None or shows_contacts():
        return frame
    if isinstance(frame, pd.Series):
        masked = frame.copy().astype(object)
        for key in masked.index:
            if is_contact_column(key):
                masked[key] = _masker(key)(masked[key])
        return masked
    masked = frame.copy()
    for column in masked.columns:
        if is_contact_column(column):
            masked[column] = masked[column].astype(object).map(_masker(column), na_action="ignore")
    return masked
