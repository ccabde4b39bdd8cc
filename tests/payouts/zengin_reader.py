"""An independent reader of Zengin 総合振込 files, written from DESIGN.md's layout.

It shares no code with payouts/zengin.py (it must not import it): a file our writer makes is read
back by what a bank's system would do — fixed 120-byte records, CRLF, Shift_JIS, fields by byte
offset — so a mistake in the writer's layout shows up as a wrong field here.
"""

from __future__ import annotations

from dataclasses import dataclass

# (name, width, kind): N numeric (ASCII digits), C text (space-filled on the right)
HEADER = [
    ("data_kind", 1, "N"), ("type_code", 2, "N"), ("code_kind", 1, "N"), ("requester_code", 10, "N"),
    ("requester_name", 40, "C"), ("transfer_mmdd", 4, "N"), ("bank_code", 4, "N"), ("bank_name", 15, "C"),
    ("branch_code", 3, "N"), ("branch_name", 15, "C"), ("account_type", 1, "N"), ("account_number", 7, "N"),
    ("dummy", 17, "C"),
]  # fmt: skip
DATA = [
    ("data_kind", 1, "N"), ("bank_code", 4, "N"), ("bank_name", 15, "C"), ("branch_code", 3, "N"),
    ("branch_name", 15, "C"), ("clearing_house", 4, "N"), ("account_type", 1, "N"),
    ("account_number", 7, "N"), ("holder", 30, "C"), ("amount", 10, "N"), ("new_code", 1, "N"),
    ("customer_code_1", 10, "N"), ("customer_code_2", 10, "N"), ("transfer_kind", 1, "N"),
    ("edi_flag", 1, "C"), ("dummy", 7, "C"),
]  # fmt: skip
TRAILER = [("data_kind", 1, "N"), ("count", 6, "N"), ("total", 12, "N"), ("dummy", 101, "C")]
END = [("data_kind", 1, "N"), ("dummy", 119, "C")]
LAYOUTS = {b"1": HEADER, b"2": DATA, b"8": TRAILER, b"9": END}


class ReadError(Exception):
    pass


@dataclass
class ZenginFile:
    header: dict[str, str]
    data: list[dict[str, str]]
    trailer: dict[str, str]


def _fields(record: bytes, layout: list[tuple[str, int, str]], line: int) -> dict[str, str]:
    if sum(width for _, width, _ in layout) != 120:
        raise AssertionError("the reader's own layout is wrong")
    fields, pos = {}, 0
    for name, width, kind in layout:
        raw = record[pos : pos + width]
        pos += width
        if kind == "N":
            if not (raw.isdigit() and len(raw) == width):
                raise ReadError(f"line {line}: {name} is not {width} digits: {raw!r}")
            fields[name] = raw.decode("ascii")
        else:
            text = raw.decode("shift_jis")  # raises on bytes that are not Shift_JIS
            if text.startswith(" ") and text.strip(" "):
                raise ReadError(f"line {line}: {name} is not left-aligned: {text!r}")
            fields[name] = text.rstrip(" ")
    return fields


def read_zengin(content: bytes) -> ZenginFile:
    if len(content) % 122:
        raise ReadError(f"{len(content)} bytes is not a whole number of 120-byte records with CRLF")
    records = [content[i : i + 122] for i in range(0, len(content), 122)]
    parsed = []
    for line, chunk in enumerate(records, start=1):
        record, eol = chunk[:120], chunk[120:]
        if eol != b"\r\n" or b"\r" in record or b"\n" in record:
            raise ReadError(f"line {line}: record is not 120 bytes followed by CRLF")
        kind = record[:1]
        if kind not in LAYOUTS:
            raise ReadError(f"line {line}: unknown data kind {kind!r}")
        parsed.append((kind, _fields(record, LAYOUTS[kind], line)))
    kinds = b"".join(k for k, _ in parsed)
    if not (kinds[:1] == b"1" and kinds[-2:] == b"89" and set(kinds[1:-2]) <= {ord("2")}):
        raise ReadError(f"records are not header, data…, trailer, end: {kinds[:5]!r}…{kinds[-5:]!r}")
    header, trailer = parsed[0][1], parsed[-2][1]
    if (header["type_code"], header["code_kind"]) != ("21", "0"):
        raise ReadError("not a 総合振込 (21) file in JIS/SJIS (0)")
    if any(f["dummy"] for _, f in parsed):
        raise ReadError("a dummy field is not blank")
    return ZenginFile(header=header, data=[f for _, f in parsed[1:-2]], trailer=trailer)
