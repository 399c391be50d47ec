"""Tests that kill surviving mutants of orchestration/loading/encodings.py (mutation check, issue 17).

Each test asserts a hand-worked truth the code does not produce itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from orchestration.loading.encodings import (
    UndecodableText,
    _checked,
    _looks_mixed,
    detect_file_encoding,
    legacy_encoding,
)

JAPANESE = "顧客番号,氏名,都市\n1,山田太郎,東京\n2,佐藤花子,大阪\n"


def _file(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / "export.csv"
    path.write_bytes(data)
    return path


def _refusal(tmp_path: Path, data: bytes) -> str:
    """The message with which detect_file_encoding refuses a file holding ``data``."""
    with pytest.raises(UndecodableText) as caught:
        detect_file_encoding(_file(tmp_path, data))
    return str(caught.value)


def test_the_mixed_encoding_message_names_the_first_utf8_line_and_the_first_bad_byte(tmp_path):
    """A file mixing UTF-8 and Windows-1252 is rejected with the line of its first UTF-8 character and the
    byte offset and line of its first non-UTF-8 byte, counted by hand: ``a,b\\n`` (4 bytes), ``Köln,x\\n``
    (8 bytes in UTF-8, line 2), ``y,z\\n`` (4 bytes), then ``Caf`` (3 bytes) and 0xE9 at byte 19, line 4."""
    data = b"a,b\n" + "Köln,x\n".encode() + b"y,z\n" + "Café,€\n".encode("cp1252")
    assert _refusal(tmp_path, data) == (
        "the file mixes text encodings: UTF-8 at line 2, but not UTF-8 at byte 19 (line 4); "
        "save it again in one encoding (UTF-8)"
    )


def test_line_numbers_count_a_leading_empty_line(tmp_path):
    """Line numbers count every line break before the offset, the one at byte 0 included: after a leading
    empty line (1 byte) and ``Köln\\n`` (6 bytes), the UTF-8 ``ö`` is on line 2 and the Windows-1252 ``é``
    (byte 7) on line 3."""
    data = b"\n" + "Köln\n".encode() + "é\n".encode("cp1252")
    assert "UTF-8 at line 2, but not UTF-8 at byte 7 (line 3)" in _refusal(tmp_path, data)


def test_a_shift_jis_export_is_read_not_rejected_as_mixed(tmp_path):
    """A Shift-JIS file holds a byte pair that looks like UTF-8 (0xCC 0x92 inside 渋) here and there; it is a
    multi-byte code page, not a mixed file, so the detected codec must read back exactly the text written."""
    path = _file(tmp_path, JAPANESE.encode("shift_jis"))
    encoding = detect_file_encoding(path)
    assert path.read_bytes().decode(encoding) == JAPANESE


@pytest.mark.parametrize(
    ("sample", "legacy", "mixed"),
    [
        # Single-byte legacy code page: any UTF-8 sequence is mojibake of a mixed file.
        ("é".encode() + b"\xe9", "cp1252", True),
        # Shift-JIS: 2 of the 4 high bytes form a UTF-8 sequence (c3 a9): half, so mixed.
        ("é".encode() + "あ".encode("shift_jis"), "shift_jis", True),
        # 2 of 6 high bytes: under half, a Shift-JIS text with a chance pair.
        ("é".encode() + "ああ".encode("shift_jis"), "shift_jis", False),
        # 4 of 6 high bytes: over half.
        ("éé".encode() + "あ".encode("shift_jis"), "shift_jis", True),
    ],
)
def test_a_multi_byte_code_page_is_mixed_only_when_half_its_high_bytes_are_utf8(sample, legacy, mixed):
    """_looks_mixed: a single-byte legacy reading makes any UTF-8 sequence a mixed file; a multi-byte one
    (Shift-JIS) only when at least half of the bytes 0x80-0xFF are in UTF-8 sequences (counted by hand)."""
    assert _looks_mixed(sample, legacy) is mixed


CYRILLIC = "Москва, улица Тверская, дом 5. Заказ оплачен.\n"


def test_a_cyrillic_windows_1251_export_is_read_as_windows_1251():
    """A Russian Windows-1251 text is not Windows-1252 (no candidate reading it as 1252 comes near): the
    detector's best candidate, ``cp1251``, is returned, and it gives back the text written."""
    data = CYRILLIC.encode("cp1251")
    assert legacy_encoding(data) == "cp1251"
    assert data.decode(legacy_encoding(data)) == CYRILLIC


def test_a_binary_sample_is_refused_with_a_message():
    """Bytes no encoding reads (every byte value, repeated) raise UndecodableText with the message shown to
    the operator."""
    with pytest.raises(UndecodableText) as caught:
        legacy_encoding(bytes(range(256)) * 64)
    assert str(caught.value) == "no text encoding reads the file with confidence (is it a text file?)"


@dataclass
class _Match:
    encoding: str
    percent_chaos: float
    could_be_from_charset: list[str]


@pytest.mark.parametrize(
    ("best", "data", "expected"),
    [
        (
            "latin_1",
            b"Caf\xe9 \x80 5",
            "cp1252",
        ),  # 0x80: the euro sign in 1252, a control character in Latin-1
        ("iso8859_1", b"Caf\xe9 \x96 5", "cp1252"),
        ("latin_1", b"Caf\xe9 5", "iso8859-1"),  # no byte 0x80-0x9F: Latin-1 and 1252 agree, the name stays
    ],
)
def test_latin_1_gives_way_to_windows_1252_when_bytes_0x80_to_0x9f_occur(monkeypatch, best, data, expected):
    """The documented rule "Latin-1 is never chosen over Windows-1252": when the detector's best candidate is
    Latin-1 (under either of its names) and no Windows-1252 candidate is within the tie margin, a byte
    0x80-0x9F (text in 1252, control characters in Latin-1) makes it Windows-1252. The detector's answer is
    fixed here because its ranking of such short samples is not something this rule may depend on."""
    import charset_normalizer

    matches = [_Match(best, 0.0, [best]), _Match("cp1252", 50.0, ["cp1252"])]
    monkeypatch.setattr(charset_normalizer, "from_bytes", lambda _data: matches)
    assert legacy_encoding(data) == expected


def test_checked_names_the_first_bad_byte_counted_across_blocks(tmp_path):
    """_checked reads in 1 MiB blocks and names the offset of the first byte the codec refuses, counted from
    the start of the file: 0x81 (undefined in Windows-1252) at byte 3, and after two full MiB plus ``bc`` at
    byte 2,097,154."""
    short = _file(tmp_path, b"abc\x81def")
    with pytest.raises(UndecodableText) as caught:
        _checked(short, "cp1252")
    assert str(caught.value) == "the file is not valid cp1252 at byte 3"
    long = tmp_path / "long.csv"
    long.write_bytes(b"a" * (2 << 20) + b"bc\x81")
    with pytest.raises(UndecodableText) as caught:
        _checked(long, "cp1252")
    assert str(caught.value) == "the file is not valid cp1252 at byte 2,097,154"
    assert _checked(_file(tmp_path, b"plain text\n"), "cp1252") == "cp1252"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (b"\xff\xfea\x00b", "utf-16"),  # BOM, "a", then half a UTF-16 unit
        (b"abc\x82", "shift_jis"),  # a lead byte with no trail byte
    ],
)
def test_a_file_ending_inside_a_character_is_refused(tmp_path, data, encoding):
    """A file whose last character is cut off (odd UTF-16 length, a Shift-JIS lead byte at the end) is not
    valid in that encoding: _checked raises with the message naming the encoding."""
    with pytest.raises(UndecodableText) as caught:
        _checked(_file(tmp_path, data), encoding)
    assert str(caught.value) == f"the file ends inside a {encoding} character"


def test_a_bad_byte_after_a_character_split_between_read_blocks_is_placed_exactly(tmp_path):
    """The file is read in blocks of 1 MiB. Byte 1,048,575 is the first half of "é" (C3), 1,048,576 its second
    half (A9), then a newline, "bad " and a Windows-1252 "é" (E9): the first byte that is not UTF-8 is at
    1,048,576 + 1 + 1 + 4 = 1,048,582."""
    head = "name\ncafé\n".encode()
    filler = b"x" * ((1 << 20) - 1 - len(head) - 1) + b"\n"
    data = head + filler + "é".encode() + b"\nbad \xe9 here\n"
    assert data[(1 << 20) - 1 : (1 << 20) + 1] == b"\xc3\xa9"
    with pytest.raises(UndecodableText, match=r"not UTF-8 at byte 1,048,582 \(line 5\)"):
        detect_file_encoding(_file(tmp_path, data))


def test_a_file_cut_in_the_middle_of_a_character_is_not_utf8(tmp_path):
    """ "name", "café" and "end" followed by the first byte of a two-byte character (C3) and nothing after
    it: byte 14 (5 + 6 + 3) on line 3 is not UTF-8, and the UTF-8 "é" of line 2 makes it a mixed file."""
    data = "name\ncafé\nend".encode() + b"\xc3"
    with pytest.raises(UndecodableText, match=r"UTF-8 at line 2, but not UTF-8 at byte 14 \(line 3\)"):
        detect_file_encoding(_file(tmp_path, data))


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_is_recognised_by_either_byte_order_mark(tmp_path, codec):
    """A UTF-16 export starts with FF FE (little-endian) or FE FF (big-endian); Python's utf-16 codec reads
    both by their mark."""
    data = "\ufeffname,city\nMüller,Köln\n".encode(codec)
    assert data[:2] == (b"\xff\xfe" if codec.endswith("le") else b"\xfe\xff")
    assert detect_file_encoding(_file(tmp_path, data)) == "utf-16"


# 2.2 million lines of 4 bytes: 8.8 MB, beyond the 8 MiB (8,388,608-byte) sample.
LONG_ASCII = b"y,z\n" * 2_200_000


def test_a_long_windows_1252_file_whose_first_accent_lies_beyond_the_sample_is_read(tmp_path):
    """The first non-UTF-8 byte is at byte 8,800,007, after 8.8 MB of plain ASCII: the bytes around it are
    what tells the code page, so the file is read as Windows-1252 (it used to be judged on the bytes just
    before that one, all ASCII, and refused as "not valid ascii")."""
    tail = "Café,Crème brûlée\nMüller,Straße 5\nJosé,Señor Ñandú\n".encode("cp1252")
    path = _file(tmp_path, b"a,b\n" + LONG_ASCII + tail)
    assert detect_file_encoding(path) == "cp1252"


def test_a_mix_of_encodings_found_beyond_the_sample_names_its_byte(tmp_path):
    """UTF-8 on line 2 (``Köln``, bytes 4 to 11), 8.8 MB of ASCII, then Windows-1252 ``Café``: 0xE9 is byte
    4 + 8 + 8,800,000 + 3 = 8,800,015, beyond the first 8 MiB where lines are counted."""
    data = b"a,b\n" + "Köln,x\n".encode() + LONG_ASCII + "Café,€\n".encode("cp1252")
    assert _refusal(tmp_path, data) == (
        "the file mixes text encodings: UTF-8 at line 2, but not UTF-8 at byte 8,800,015 "
        "(beyond the first 8 MiB); save it again in one encoding (UTF-8)"
    )


def test_a_utf8_file_with_a_byte_order_mark_and_a_windows_1252_line_is_mixed(tmp_path):
    """Excel's "CSV UTF-8" (a byte-order mark) with a Windows-1252 line appended is refused even without a
    UTF-8 character in the text: the mark itself is UTF-8, on line 1, and 0xE9 of ``Caf\\xe9`` is byte
    3 + 4 + 3 = 10, line 2."""
    data = b"\xef\xbb\xbf" + b"a,b\n" + "Café,x\n".encode("cp1252")
    assert _refusal(tmp_path, data) == (
        "the file mixes text encodings: UTF-8 at line 1, but not UTF-8 at byte 10 (line 2); "
        "save it again in one encoding (UTF-8)"
    )


def test_the_first_byte_beyond_the_first_8_mib_is_counted_as_beyond(tmp_path):
    """Bytes 0 to 8,388,607 are the first 8 MiB, whose lines are counted: 12 bytes of header and ``Köln``,
    then 2,097,149 lines of 4 bytes put a Windows-1252 0xE9 at byte 8,388,608 exactly, the first one beyond."""
    data = b"a,b\n" + "Köln,x\n".encode() + b"y,z\n" * 2_097_149 + b"\xe9,x\n"
    assert _refusal(tmp_path, data) == (
        "the file mixes text encodings: UTF-8 at line 2, but not UTF-8 at byte 8,388,608 "
        "(beyond the first 8 MiB); save it again in one encoding (UTF-8)"
    )
