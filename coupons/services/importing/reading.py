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
from coupons.services.importing.results import ImportFileError, RowError

CHUNK_BYTES = 1 << 20


# --- reading a file --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Header:
    kind: FileKind
    names: list[str]  # normalised names, in file order


def _read_header(name: str, raw: bytes, encoding: str) -> _Header:
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise ImportFileError([RowError(name, 1, "", f"文字コード {encoding} として読めません")]) from exc
    rows = list(csv.reader(io.StringIO(text)))
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


def _utf8_chunks(stream: BinaryIO, name: str, encoding: str, first_line: int) -> Iterable[bytes]:
    """The bytes after the header as UTF-8, chunk by chunk (a cp932 file is re-encoded on the way)."""
    if encoding == "utf-8":
        while chunk := stream.read(CHUNK_BYTES):
            yield chunk
        return
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    line = first_line
    while True:
        chunk = stream.read(CHUNK_BYTES)
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            line += chunk.count(b"\n", 0, exc.start)
            raise ImportFileError(
                [RowError(name, line, "", f"文字コード {encoding} として読めません")]
            ) from exc
        line += chunk.count(b"\n")
        if text:
            yield text.encode("utf-8")
        if not chunk:
            return


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
        message = "UTF-8 として読めない文字があります（Shift_JIS なら --encoding cp932）"
    elif "extra data after last expected column" in primary:
        message = "列の数が見出しより多い行です"
    elif "missing data for column" in primary:
        message = "列の数が見出しより少ない行です"
    elif "unterminated CSV quoted field" in primary:
        message = '引用符（"）が閉じていません'
    else:
        message = f"CSV として読めません: {primary}"
    return ImportFileError([RowError(name, line, "", message)])
