"""Tests that kill surviving mutants of orchestration/loading/phones.py (mutation check, issue 17).

Each test asserts a hand-worked truth the code does not produce itself.
"""

from __future__ import annotations

import pytest

from orchestration.loading.phones import to_e164


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        # North America dials 011 abroad, yet "00 44 ..." in a US record is the UK number (E.164 +44 ...).
        ("00 44 20 7946 0018", "US", "+442079460018"),
        ("0049 151 2345 6789", "CA", "+4915123456789"),
        # Germany's exit code is 00 itself: read directly.
        ("0044 20 7946 0018", "DE", "+442079460018"),
    ],
)
def test_a_number_written_with_the_common_exit_code_is_international_in_any_country(raw, region, e164):
    """A number typed with the exit code 00 (ITU-T E.164's recommended prefix) is read as international even
    in a record of a country whose own exit code differs: the E.164 forms are written out by hand."""
    assert to_e164(raw, region) == e164
