"""Reading a platform file: its header (which kind, which columns) and its bytes, as UTF-8 chunks."""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO

from psycopg import errors as pg_errors

from coupons.services.importing.kinds import COUPONS, KINDS, MOVEMENTS, STORE_SALES, STORES, FileKind
from coupons.services.importing.results import MAX_REPORTED_ERRORS, ImportFileError, RowError

CHUNK_BYTES = 1 << 20


# --- reading a file --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Header:
    kind: FileKind
    names: list[str]  # normalised names, in file order


# A header line is a few hundred bytes; reading it stops here, so that a file without a single LF
# (CR-only line endings) is not read whole into memory as one "line".
HEADER_MAX_BYTES = 64 << 10
CR_ONLY_MESSAGE = (
    "改行が CR だけのファイルです（古い Mac の形式）。改行を LF か CRLF にして保存し直してください"
)
# Which encoding to choose, in words that fit the admin's upload form and the command alike.
CHOOSE_CP932 = "Shift_JIS（cp932）のファイルなら、文字コードに Shift_JIS（cp932）を選んでください"
CHOOSE_UTF8 = "文字コードに UTF-8 を選んでください"


def read_header_line(stream: BinaryIO) -> bytes:
    return stream.readline(HEADER_MAX_BYTES)


def _read_header(name: str, raw: bytes, encoding: str) -> _Header:
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    if re.search(rb"\r(?!\n|$)", raw):
        raise ImportFileError([RowError(name, 1, "", CR_ONLY_MESSAGE)])
    if len(raw) >= HEADER_MAX_BYTES and not raw.endswith(b"\n"):
        raise ImportFileError([RowError(name, 1, "", "見出し行が長すぎます（改行がありません）")])
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        hint = CHOOSE_CP932 if encoding == "utf-8" else CHOOSE_UTF8
        raise ImportFileError(
            [RowError(name, 1, "", f"文字コード {encoding} として読めません（{hint}）")]
        ) from exc
    try:
        rows = list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise ImportFileError([RowError(name, 1, "", f"見出し行が CSV として読めません: {exc}")]) from exc
    names = [column.strip().lower() for column in rows[0]] if rows else []
    if not any(names):
        raise ImportFileError([RowError(name, 1, "", "見出し行がありません（空のファイルです）")])
    duplicated = sorted({n for n in names if n and names.count(n) > 1})
    if duplicated:
        raise ImportFileError([RowError(name, 1, c, "見出しが重複しています") for c in duplicated])
    kind = _kind_of(names)
    if kind is None:
        raise ImportFileError(
            [
                RowError(
                    name,
                    1,
                    "",
                    "見出しから種類（stores / coupons / movements / store_sales）が判別できません",
                )
            ]
        )
    missing = [column for column in kind.required if column not in names]
    if missing:
        raise ImportFileError(
            [RowError(name, 1, column, f"{kind.name} に必須の列がありません") for column in missing]
        )
    return _Header(kind=kind, names=names)


def _kind_of(names: Sequence[str]) -> FileKind | None:
    """The kind whose required columns are all there (the one needing the most, if several: extra
    columns are allowed); failing that, the kind a telling column points to, so that the missing
    columns can be named."""
    present = set(names)
    complete = [kind for kind in KINDS if set(kind.required) <= present]
    if complete:
        return max(complete, key=lambda kind: len(kind.required))
    for marker, kind in (
        ("movement_id", MOVEMENTS),
        ("receipt_number", STORE_SALES),
        ("face_value_yen", COUPONS),
        ("expires_on", COUPONS),
        ("store_name", STORES),
    ):
        if marker in present:
            return kind
    return None


def _utf8_chunks(
    stream: BinaryIO, name: str, encoding: str, first_line: int, columns: Sequence[str] = ()
) -> Iterable[bytes]:
    """The bytes after the header as UTF-8, chunk by chunk (a cp932 file is re-encoded on the way).

    A file read as cp932 that is in fact UTF-8 (it decodes as UTF-8 and has non-ASCII text) is
    refused at its end, naming its first non-ASCII line and column: cp932 would read it as mojibake
    without a word (館山 → 鬢ｨ螻ｱ). Nothing has been written by then (the caller's COPY is aborted)."""
    if encoding == "utf-8":
        while chunk := stream.read(CHUNK_BYTES):
            yield chunk
        return
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    utf8 = _Utf8Witness(name, first_line, columns)
    line = first_line
    while True:
        chunk = stream.read(CHUNK_BYTES)
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            line += chunk.count(b"\n", 0, exc.start)
            raise ImportFileError(
                [RowError(name, line, "", f"文字コード {encoding} として読めません（{CHOOSE_UTF8}）")]
            ) from exc
        utf8.feed(chunk)
        line += chunk.count(b"\n")
        if text:
            yield text.encode("utf-8")
        if not chunk:
            utf8.refuse_if_utf8()
            return


_NON_ASCII = re.compile(rb"[\x80-\xff]")


class _Utf8Witness:
    """Follows a file read as cp932: does it also read as UTF-8, and where is its first non-ASCII
    text (line, and column by the header)?"""

    def __init__(self, name: str, first_line: int, columns: Sequence[str]) -> None:
        self.name, self.line, self.columns = name, first_line, columns
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="strict")
        self.valid = True
        self.partial = b""  # the unfinished last line of the chunks so far
        self.found: tuple[int, str] | None = None

    def feed(self, chunk: bytes) -> None:
        if not self.valid:
            return
        try:
            self.decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError:
            self.valid = False
            return
        if self.found is None and (match := _NON_ASCII.search(chunk)):
            block = self.partial + chunk
            at = len(self.partial) + match.start()
            start = block.rfind(b"\n", 0, at) + 1
            end = block.find(b"\n", at)
            text = block[start : end if end >= 0 else len(block)].decode("utf-8", errors="replace")
            self.found = (self.line + block.count(b"\n", 0, start), self._column(text))
        cut = chunk.rfind(b"\n")
        if cut >= 0:
            self.line += (self.partial + chunk[: cut + 1]).count(b"\n")
            self.partial = chunk[cut + 1 :]
        else:
            self.partial += chunk
        if self.found is not None:
            self.partial = b""  # (only the line count matters from here on)

    def _column(self, text: str) -> str:
        try:
            fields = next(csv.reader([text.rstrip("\r")]), [])
        except csv.Error:
            return ""
        for position, value in enumerate(fields):
            if not value.isascii():
                return self.columns[position] if position < len(self.columns) else ""
        return ""

    def refuse_if_utf8(self) -> None:
        if self.valid and self.found is not None:
            line, column = self.found
            raise ImportFileError(
                [
                    RowError(
                        self.name,
                        line,
                        column,
                        "このファイルは UTF-8 のようです（Shift_JIS（cp932）として読むと文字化けするため"
                        f"取り込みません）。{CHOOSE_UTF8}",
                    )
                ]
            )


# PostgreSQL's COPY (FORMAT csv) takes a line holding only \. as the end of the data and silently
# ignores everything after it: such a line must refuse the file instead.
_END_MARKER = re.compile(rb"^\\\.\r?$", re.MULTILINE)
END_MARKER_MESSAGE = "「\\.」だけの行があります（データの終わりと誤解されるため取り込めません）"


def refuse_end_marker(chunks: Iterable[bytes], name: str, first_line: int) -> Iterator[bytes]:
    """Pass the chunks through, refusing the file at a line that is exactly ``\\.``."""
    line = first_line
    carry = b""
    for chunk in chunks:
        block = carry + chunk
        cut = block.rfind(b"\n") + 1
        whole, carry = block[:cut], block[cut:]
        if match := _END_MARKER.search(whole):
            at = line + whole.count(b"\n", 0, match.start())
            raise ImportFileError([RowError(name, at, "", END_MARKER_MESSAGE)])
        line += whole.count(b"\n")
        yield chunk
    if _END_MARKER.fullmatch(carry):
        raise ImportFileError([RowError(name, line, "", END_MARKER_MESSAGE)])


_COPY_LINE = re.compile(r"line (\d+)")


def _copy_error(name: str, exc: Exception) -> ImportFileError:
    """Turn PostgreSQL's COPY error into a file/line message (COPY counts lines after the header)."""
    context = getattr(getattr(exc, "diag", None), "context", None) or ""
    match = _COPY_LINE.search(context)
    line = int(match.group(1)) + 1 if match else 0
    primary = getattr(getattr(exc, "diag", None), "message_primary", None) or str(exc)
    if isinstance(exc, pg_errors.CharacterNotInRepertoire | pg_errors.UntranslatableCharacter):
        message = f"UTF-8 として読めない文字があります（{CHOOSE_CP932}）"
    elif "extra data after last expected column" in primary:
        message = "列の数が見出しより多い行です"
    elif "missing data for column" in primary:
        message = "列の数が見出しより少ない行です"
    elif "unterminated CSV quoted field" in primary:
        message = '引用符（"）が閉じていません'
    else:
        message = f"CSV として読めません: {primary}"
    return ImportFileError([RowError(name, line, "", message)])


def shape_errors(stream: BinaryIO, name: str, encoding: str, width: int) -> ImportFileError | None:
    """Every row of the file with the wrong number of fields (and an unclosed quote), up to
    MAX_REPORTED_ERRORS, all counted: COPY stops at the first such row, which would hide the rest
    from the person fixing the file. Read again in Python, on the failure path only."""
    stream.seek(0)
    text = io.TextIOWrapper(
        stream, encoding="utf-8-sig" if encoding == "utf-8" else encoding, errors="replace", newline=""
    )
    errors: list[RowError] = []
    bad = 0
    try:
        reader = csv.reader(text, strict=True)
        next(reader, None)  # the header
        while True:
            start = reader.line_num + 1
            try:
                row = next(reader)
            except StopIteration:
                break
            except csv.Error:  # a quote left open runs to the end of the file
                bad += 1
                errors.append(RowError(name, start, "", '引用符（"）が閉じていません'))
                break
            if len(row) == width:
                continue
            bad += 1
            if len(errors) < MAX_REPORTED_ERRORS:
                many = len(row) > width
                message = "列の数が見出しより多い行です" if many else "列の数が見出しより少ない行です"
                errors.append(RowError(name, start, "", f"{message}（{len(row)} 列、見出しは {width} 列）"))
    finally:
        text.detach()
    return ImportFileError(errors[:MAX_REPORTED_ERRORS], bad_rows=bad) if errors else None
