"""Which text encoding a file is in: UTF-8 (with or without BOM), UTF-16, or a legacy single-byte encoding.

Shop exports come in UTF-8 (the web), UTF-8 with a BOM (Excel's "CSV UTF-8"), UTF-16 (Excel's "Unicode
text", tab-separated) and Windows-1252 (Excel's plain "CSV" on a Western Windows). Reading Windows-1252 as
Latin-1 turns ``€ – ’ “ ”`` into control characters without an error, so the two must be told apart, and
a file no encoding reads with confidence must be rejected, never loaded garbled.

The marks (BOM) and UTF-8's own validity decide first; for the rest charset-normalizer, a maintained
detector, proposes the candidates. Two rules are added by hand, each because the detector alone gets real
exports wrong:

* **Windows-1252 wins a near tie.** On a short file charset-normalizer often ranks a Baltic or Central
  European code page first (``Köln, Café – 5 €`` comes out as cp775) although Windows-1252 reads the same
  bytes with almost the same "mess" score; Western shop exports are by far the most common, so Windows-1252
  is chosen when its reading is within :data:`TIE_MARGIN` of the best. Latin-1 is never chosen over it: the
  two agree on every byte except 0x80-0x9F, which Latin-1 reads as invisible control characters.
* **Mixed files are rejected.** A file that is mostly UTF-8 with a few Windows-1252 lines (two exports
  concatenated) is invalid UTF-8, but decoding it as Windows-1252 would garble every UTF-8 character
  (``é`` -> ``Ã©``). Valid UTF-8 multi-byte sequences next to invalid bytes mean such a file.
"""

from __future__ import annotations

import codecs
import re
from pathlib import Path

# How much charset-normalizer's "mess" (percent of suspicious characters) Windows-1252 may exceed the best
# candidate by and still win (see the module docstring). Measured: 0.3 points on a two-line German export.
TIE_MARGIN = 5.0
# How much of a legacy-encoded file the detector looks at (it samples within this); the chosen encoding is
# then checked on the whole file.
SAMPLE_BYTES = 8 << 20
# A well-formed UTF-8 multi-byte sequence (2 to 4 bytes).
_UTF8_SEQUENCE = re.compile(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}")


class UndecodableText(ValueError):
    """The file's text encoding cannot be told with confidence."""


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def _first_utf8_error(path: Path) -> int | None:
    """Byte offset of the first byte that is not valid UTF-8, or None when the whole file is UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                pending = len(decoder.getstate()[0])
                return offset - pending + exc.start
            offset += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return offset - len(decoder.getstate()[0])
    return None


def detect_file_encoding(path: Path) -> str:
    """The Python codec to read ``path`` with: ``utf-8``, ``utf-8-sig``, ``utf-16``, ``cp1252``, or another
    code page charset-normalizer finds. Raises :class:`UndecodableText` with a message naming the line."""
    with path.open("rb") as fh:
        head = fh.read(SAMPLE_BYTES)
    if head.startswith(b"\xef\xbb\xbf"):
        encoding = "utf-8-sig"
    elif head.startswith((b"\xff\xfe", b"\xfe\xff")):
        encoding = "utf-16"
    else:
        encoding = "utf-8"
    if encoding == "utf-16":
        return _checked(path, encoding)
    error = _first_utf8_error(path)
    if error is None:
        return encoding
    # A long file is judged on the first half of its sample and on the bytes around its first non-UTF-8 one
    # (a quarter of the sample before it, a quarter from it on), which may lie anywhere in the file.
    with path.open("rb") as fh:
        fh.seek(max(0, error - SAMPLE_BYTES // 4))
        around = fh.read(SAMPLE_BYTES // 2)
    sample = head if len(head) < SAMPLE_BYTES else head[: SAMPLE_BYTES // 2] + around
    legacy = legacy_encoding(sample)
    good = _UTF8_SEQUENCE.search(sample)
    if encoding == "utf-8-sig" or (good is not None and _looks_mixed(sample, legacy)):
        where = f"line {_line_of(head, good.start())}" if good is not None else "its byte-order mark"
        at = f"line {_line_of(head, error)}" if error < len(head) else "beyond the first 8 MiB"
        raise UndecodableText(
            f"the file mixes text encodings: UTF-8 at {where}, but not UTF-8 at byte {error:,} ({at}); "
            "save it again in one encoding (UTF-8)"
        )
    return _checked(path, legacy)


def _looks_mixed(sample: bytes, legacy: str) -> bool:
    """UTF-8 sequences in a file that is not UTF-8: a mixed file when the legacy reading is single-byte
    (where such byte pairs are mojibake, ``Ã©``), or when most non-ASCII bytes form UTF-8 sequences (a
    multi-byte code page such as Shift-JIS has UTF-8-like pairs only here and there)."""
    if len(bytes(range(128, 256)).decode(legacy, errors="replace")) == 128:
        return True
    in_sequences = sum(len(m) for m in _UTF8_SEQUENCE.findall(sample))
    return in_sequences >= 0.5 * len(re.findall(rb"[\x80-\xff]", sample))


def legacy_encoding(data: bytes) -> str:
    """The single-byte (or East Asian) encoding charset-normalizer finds for ``data`` that is not UTF-8,
    with the Windows-1252 tie rule of the module docstring."""
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise UndecodableText("no text encoding reads the file with confidence (is it a text file?)")
    best = matches[0]
    for match in matches:
        if "cp1252" in match.could_be_from_charset and match.percent_chaos <= best.percent_chaos + TIE_MARGIN:
            return "cp1252"
    if best.encoding in ("latin_1", "iso8859_1") and re.search(rb"[\x80-\x9f]", data):
        return "cp1252"
    return codecs.lookup(best.encoding).name


def _checked(path: Path, encoding: str) -> str:
    """``encoding`` if it decodes the whole file, else :class:`UndecodableText` naming the first bad byte."""
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise UndecodableText(
                    f"the file is not valid {encoding} at byte {offset + exc.start:,}"
                ) from exc
            offset += len(block)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise UndecodableText(f"the file ends inside a {encoding} character") from exc
    return encoding
