"""Tests that kill surviving mutants of orchestration/loading/reading.py (mutation check, issue 17).

Each test asserts a hand-worked truth the code does not produce itself.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from orchestration.loading.reading import STAGE, _utf8_copy, row_number_sql, stage_csv_in_python

NAMES = ["id", "note", "city"]


def _stage(tmp_path: Path, data: bytes, delim: str, encoding: str = "utf-8"):
    path = tmp_path / "ragged.csv"
    path.write_bytes(data)
    con = duckdb.connect()
    unparsable = stage_csv_in_python(con, path, encoding, delim, NAMES)
    rows = con.execute(f"select * from {STAGE} order by rowid").fetchall()
    return con, unparsable, rows


def test_the_fallback_reader_keeps_quoted_line_breaks_doubled_quotes_and_stray_quotes(tmp_path):
    """Python's csv module reads the file as it is: a CR LF inside a quoted field stays CR LF (no newline
    translation), a doubled quote is one quote, a stray quote inside a field is kept (not an error), and
    the delimiter passed in (here ``;``) splits the fields. The expected rows are written out by hand."""
    data = b'id;note;city\r\n1;"two\r\nlines";Bonn\r\n2;"say ""hi""";Ulm\r\n3;ab"c;Kiel\r\n'
    _con, unparsable, rows = _stage(tmp_path, data, ";")
    assert unparsable == []
    assert rows == [("1", "two\r\nlines", "Bonn"), ("2", 'say "hi"', "Ulm"), ("3", 'ab"c', "Kiel")]


def test_the_fallback_reader_names_each_unparsable_row_and_leaves_nothing_registered(tmp_path):
    """Rows with a wrong number of fields come back as (data row number, kind, the fields joined with the
    delimiter), numbered from 1 after the header; the good rows are staged; the pandas frame used to stage
    them is unregistered from the connection afterwards."""
    data = b"id|note|city\n1|a|Bonn\n2|b|Ulm|extra\n3|c\n4|d|Kiel\n"
    con, unparsable, rows = _stage(tmp_path, data, "|")
    assert unparsable == [(2, "too many columns", "2|b|Ulm|extra"), (3, "missing columns", "3|c")]
    assert rows == [("1", "a", "Bonn"), ("4", "d", "Kiel")]
    views = con.execute("select view_name from duckdb_views() where not internal").fetchall()
    assert [v for (v,) in views if "frame" in v.lower()] == []


def test_the_utf8_copy_holds_the_same_characters_and_line_breaks(tmp_path):
    """The temporary UTF-8 copy of a Windows-1252 file is the same text, byte for byte in UTF-8: CR LF line
    ends and a CR LF inside a quoted field are not translated."""
    text = 'id,note\r\n1,"Café – 5 €\r\nzweite Zeile"\r\n2,Köln\r\n'
    source = tmp_path / "legacy.csv"
    source.write_bytes(text.encode("cp1252"))
    copy = _utf8_copy(source, "cp1252")
    try:
        assert copy.read_bytes() == text.encode("utf-8")
    finally:
        copy.unlink()


def test_rows_of_a_file_without_unparsable_rows_are_numbered_from_one():
    """With no row rejected, the fallback's good rows are numbered 1, 2, 3 in file order."""
    con = duckdb.connect()
    con.execute(f"create temp table {STAGE} as select * from (values ('a'), ('b'), ('c')) t(v)")
    sql = row_number_sql(con, [])
    assert con.execute(f"select {sql} from {STAGE} order by rowid").fetchall() == [(1,), (2,), (3,)]


def _header_of(tmp_path: Path, data: bytes, encoding: str = "utf-8"):
    from orchestration.loading.reading import csv_header

    path = tmp_path / "header.csv"
    path.write_bytes(data)
    return csv_header(path, encoding)


def test_the_delimiter_is_the_one_the_header_holds_most_even_once(tmp_path):
    """Two columns have one delimiter: a single ``;``, tab or pipe still decides; without any the file is
    one column read with commas; names lose surrounding blanks but keep inner ones."""
    assert _header_of(tmp_path, b"customer_id;email\n1;a@b.de\n") == (";", ["customer_id", "email"])
    assert _header_of(tmp_path, b"customer_id\temail\n") == ("\t", ["customer_id", "email"])
    assert _header_of(tmp_path, b"a|b|c\n") == ("|", ["a", "b", "c"])
    assert _header_of(tmp_path, b"a,b;c,d\n") == (",", ["a", "b;c", "d"])
    assert _header_of(tmp_path, b"customer_id\n1\n") == (",", ["customer_id"])
    assert _header_of(tmp_path, b' first name ,"last, name"\r\n') == (",", ["first name", "last, name"])


def test_a_utf8_byte_order_mark_is_not_part_of_the_first_column_name(tmp_path):
    data = "customer_id,city\n1,Köln\n".encode("utf-8-sig")
    assert _header_of(tmp_path, data, "utf-8") == (",", ["customer_id", "city"])
    path = tmp_path / "bom.csv"
    path.write_bytes(data)
    con = duckdb.connect()
    stage_csv_in_python(con, path, "utf-8", ",", ["customer_id", "city"])
    assert con.execute(f"select * from {STAGE}").fetchall() == [("1", "Köln")]


def test_closing_a_source_removes_its_utf8_copy_once(tmp_path):
    from orchestration.loading.reading import file_source

    legacy = tmp_path / "legacy.csv"
    legacy.write_bytes("id,city\n1,Köln\n".encode("cp1252"))
    source = file_source(duckdb.connect(), legacy)
    copy = source.temporary
    assert copy is not None
    assert copy.exists()
    assert copy != legacy
    source.close()
    assert not copy.exists()
    assert source.temporary is None
    source.close()  # a second close is harmless
    assert legacy.exists()
    native = tmp_path / "native.csv"
    native.write_text("id,city\n1,Bonn\n", encoding="utf-8")
    plain = file_source(duckdb.connect(), native)
    assert plain.temporary is None
    plain.close()
    assert native.exists()


def test_an_ordinary_file_is_read_by_duckdb_itself_as_text(tmp_path):
    """The relation of a well-formed file is what DuckDB reads, without the fallback: every column as text
    exactly as written (leading zeros, blanks), in file order; for a non-UTF-8 file, from its UTF-8 copy."""
    from orchestration.loading.reading import file_source

    con = duckdb.connect()
    cases = {
        "semicolons.csv": ("id;code;city\n1;007;Köln\n2; 08 ;Ulm\n".encode(), "utf-8"),
        "legacy.csv": (
            (
                "id,code,city\n1,007,Köln\n2, 08 ,Ulm\n"
                + "".join(f"{i},{i:03d},Düsseldorf – Straße für Größe {i} €\n" for i in range(3, 40))
            ).encode("cp1252"),
            "cp1252",
        ),
    }
    for name, (data, encoding) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        source = file_source(con, path)
        try:
            assert (source.fmt, source.columns, source.encoding) == ("csv", ["id", "code", "city"], encoding)
            rows = con.execute(f"select * from {source.relation}").fetchall()
            assert rows[:2] == [("1", "007", "Köln"), ("2", " 08 ", "Ulm")], name
            assert len(rows) == data.decode(encoding).count("\n") - 1
            types = {r[1] for r in con.execute(f"describe select * from {source.relation}").fetchall()}
            assert types == {"VARCHAR"}
        finally:
            source.close()
    parquet = tmp_path / "rows.parquet"
    con.execute(f"copy (select 1 as id, 'a' as code) to '{parquet}' (format parquet)")
    source = file_source(con, parquet)
    assert (source.fmt, source.columns) == ("parquet", ["id", "code"])
    assert con.execute(f"select * from {source.relation}").fetchall() == [(1, "a")]
    jsonl = tmp_path / "rows.jsonl"
    jsonl.write_text('{"id": 1, "code": "a"}\n{"id": 2, "code": "b"}\n')
    source = file_source(con, jsonl)
    assert (source.fmt, source.columns) == ("json", ["id", "code"])
    assert con.execute(f"select count(*) from {source.relation}").fetchone()[0] == 2


def test_file_level_problems_are_named(tmp_path):
    import pytest

    from orchestration.loading.reading import FileRejected, file_source

    con = duckdb.connect()
    cases = {
        "empty.csv": (b"", r"^the file is empty \(0 bytes\)$"),
        "blank.csv": (b"\n1,2\n", r"^the file has no header row$"),
        "twice.csv": (b"id,name,id\n1,a,2\n", r"^the header repeats a column name: \['id', 'name', 'id'\]$"),
        "broken.parquet": (b"not parquet at all", r"^the file cannot be read as parquet: \S"),
    }
    for name, (data, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(FileRejected, match=message):
            file_source(con, path)
