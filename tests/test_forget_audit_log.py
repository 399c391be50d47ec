"""``ecrm forget`` and the dashboard's access log: the entries stay, the erased person's identifiers do not."""

from __future__ import annotations

import json

from orchestration.forget import ERASED_MARK, scrub_audit_log


def _log(tmp_path, entries):
    path = tmp_path / "access.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in entries), encoding="utf-8")
    return path


ENTRIES = [
    {"action": "search", "searched": "Anna.Schmidt@", "customer_ids": ["c1", "c2"], "user": "jana"},
    {"action": "search", "searched": "0151 2345 6767", "customer_ids": ["c1"], "user": "jana"},
    {"action": "lookup", "searched": "c1", "customer_ids": ["c1"], "user": "jana"},
    {"action": "export", "searched": "winback", "customer_ids": ["c2", "c1", "c3"], "user": "olaf"},
    {"action": "search", "searched": "bob@example.com", "customer_ids": ["c3"], "user": "olaf"},
    {"action": "search", "searched": "015", "customer_ids": [], "user": "olaf"},
]
PERSON = {"anna.schmidt@example.com", "+4915123456767", "c1", "crm-77"}


def test_entries_naming_the_person_keep_who_and_when_but_not_whom(tmp_path):
    path = _log(tmp_path, ENTRIES)
    assert scrub_audit_log(path, PERSON) == 4
    got = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [e["action"] for e in got] == [e["action"] for e in ENTRIES]
    assert [e["user"] for e in got] == [e["user"] for e in ENTRIES]
    assert [e["searched"] for e in got] == [
        ERASED_MARK,
        ERASED_MARK,
        ERASED_MARK,
        "winback",
        "bob@example.com",
        "015",
    ]
    assert [e["customer_ids"] for e in got] == [
        [ERASED_MARK, "c2"], [ERASED_MARK], [ERASED_MARK], ["c2", ERASED_MARK, "c3"], ["c3"], [],
    ]  # fmt: skip
    text = path.read_text(encoding="utf-8").lower()
    assert "anna" not in text
    assert "2345" not in text


def test_a_dry_run_counts_and_changes_nothing(tmp_path):
    path = _log(tmp_path, ENTRIES)
    before = path.read_bytes()
    assert scrub_audit_log(path, PERSON, write=False) == 4
    assert path.read_bytes() == before


def test_no_log_yet(tmp_path):
    assert scrub_audit_log(tmp_path / "missing.jsonl", PERSON) == 0
