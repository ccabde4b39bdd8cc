"""Banks and branches of Japan from the ``zengin-code`` package (DESIGN.md, "Banks").

The package reads all ~1,150 banks and ~29,000 branches when it is imported (about a second), so
it is imported on the first look-up, once per process, under a lock. Each bank's branches get a
search index the first time that bank is searched: every search key's characters and character
pairs point at the entries holding them, so a search intersects a few small sets instead of
reading every branch.

Searches take what people type: a code ("0001", "１"), a name ("みずほ銀行", "東京営業部"), the
reading in hiragana or katakana, full or half width, with or without small kana ("とうきょう"
finds トウキヨウ, the banks' spelling), or in Latin letters.
"""

from __future__ import annotations

import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from functools import cache, cached_property
from typing import Generic, TypeVar

from claims.banking.kana import KanaError, zengin_kana, zengin_truncate

__all__ = [
    "AccountType",
    "Bank",
    "Branch",
    "get_bank",
    "get_branch",
    "search_banks",
    "search_branches",
]


class AccountType(StrEnum):
    """預金種目 as stored; ``zengin_code`` is the digit the transfer file carries."""

    ORDINARY = "ordinary"
    CURRENT = "current"
    SAVINGS = "savings"

    @property
    def zengin_code(self) -> str:
        return {"ordinary": "1", "current": "2", "savings": "4"}[self.value]

    @property
    def label_ja(self) -> str:
        return {"ordinary": "普通", "current": "当座", "savings": "貯蓄"}[self.value]


@cache  # ~30,000 distinct readings at most; a batch of transfers asks for the same few again
def _zengin_name(kana: str, width: int = 15) -> str:
    # The package's readings are full-width katakana with large kana already; a few carry
    # characters outside the Zengin set, in which case the field stays blank (banks match codes).
    try:
        return zengin_truncate(zengin_kana(kana), width)
    except KanaError:
        return ""


@dataclass(frozen=True, slots=True)
class Bank:
    code: str  # 4 digits
    name: str  # e.g. "みずほ" (the package writes no 銀行)
    kana: str  # full-width katakana, e.g. "ミズホ"
    hira: str
    roma: str

    @property
    def zengin_name(self) -> str:
        """The bank's name for a Zengin file's 15-byte field (half-width kana)."""
        return _zengin_name(self.kana)


@dataclass(frozen=True, slots=True)
class Branch:
    bank_code: str
    code: str  # 3 digits
    name: str
    kana: str
    hira: str
    roma: str

    @property
    def zengin_name(self) -> str:
        """The branch's name for a Zengin file's 15-byte field (half-width kana)."""
        return _zengin_name(self.kana)


# Long forms people type, and the short forms the package writes (川口信金, シンキン).
_ALIASES = (
    ("信用金庫", "信金"),
    ("シンヨウキンコ", "シンキン"),
    ("信用組合", "信組"),
    ("シンヨウクミアイ", "シンクミ"),
    ("農業協同組合", "農協"),
    ("ノウギヨウキヨウドウクミアイ", "ノウキヨウ"),
    ("労働金庫", "労金"),
    ("ロウドウキンコ", "ロウキン"),
)
_SUFFIXES = ("銀行", "ギンコウ", "支店", "シテン")
_SMALL = str.maketrans("ァィゥェォッャュョヮヵヶ", "アイウエオツヤユヨワカケ")
_DASHES = str.maketrans({c: "-" for c in "ー‐‑‒–—―−－ｰ"})


def normalize_query(text: str) -> str:
    """A search key: NFKC, katakana, large kana, one kind of dash, upper case, no spaces."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(chr(ord(c) + 0x60) if "\u3041" <= c <= "\u3096" else c for c in text)
    text = text.translate(_SMALL).translate(_DASHES).upper()
    return "".join(text.split()).replace("・", "")


def _query_key(text: str) -> str:
    key = normalize_query(text)
    for long, short in _ALIASES:
        key = key.replace(long, short)
    for suffix in _SUFFIXES:
        if key.endswith(suffix) and len(key) > len(suffix):
            key = key[: -len(suffix)]
            break
    return key


def _grams(key: str) -> set[str]:
    return set(key) | {key[i : i + 2] for i in range(len(key) - 1)}


T = TypeVar("T", Bank, Branch)


@dataclass
class _Index(Generic[T]):
    """Entries with their search keys, and character/pair postings into them."""

    entries: list[T]
    keys: list[tuple[str, ...]] = field(init=False)
    postings: dict[str, set[int]] = field(init=False)

    def __post_init__(self) -> None:
        self.keys = []
        self.postings = {}
        for i, entry in enumerate(self.entries):
            keys = tuple(
                {normalize_query(s) for s in (entry.code, entry.name, entry.kana, entry.hira, entry.roma)}
            )
            self.keys.append(keys)
            for key in keys:
                for gram in _grams(key):
                    self.postings.setdefault(gram, set()).add(i)

    def search(self, query: str, limit: int) -> list[T]:
        q = _query_key(query)
        if not q or limit <= 0:
            return []
        grams = [q] if len(q) == 1 else [q[i : i + 2] for i in range(len(q) - 1)]
        sets = sorted((self.postings.get(g, set()) for g in grams), key=len)
        candidates = set.intersection(*sets) if sets else set()
        ranked = []
        for i in candidates:
            keys = self.keys[i]
            if any(q in k for k in keys):
                entry = self.entries[i]
                if entry.code == q:
                    rank = 0
                elif q in keys:
                    rank = 1
                else:
                    rank = 2 if any(k.startswith(q) for k in keys) else 3
                ranked.append((rank, entry.code, i))
        ranked.sort()
        return [self.entries[i] for _, _, i in ranked[:limit]]


class _Catalogue:
    def __init__(self) -> None:
        import zengin_code  # reads every bank and branch: done once, on first use

        self.banks: dict[str, Bank] = {}
        self.branches: dict[str, dict[str, Branch]] = {}
        for code, b in sorted(zengin_code.Bank.all.items()):
            self.banks[code] = Bank(code=b.code, name=b.name, kana=b.kana, hira=b.hira, roma=b.roma)
            self.branches[code] = {
                br.code: Branch(
                    bank_code=code, code=br.code, name=br.name, kana=br.kana, hira=br.hira, roma=br.roma
                )
                for br in b.branches.values()
            }
        self.bank_index = _Index(list(self.banks.values()))
        self._branch_indexes: dict[str, _Index[Branch]] = {}
        self._lock = threading.Lock()

    def branch_index(self, bank_code: str) -> _Index[Branch]:
        index = self._branch_indexes.get(bank_code)
        if index is None:
            with self._lock:
                index = self._branch_indexes.get(bank_code)
                if index is None:
                    index = _Index(list(self.branches.get(bank_code, {}).values()))
                    self._branch_indexes[bank_code] = index
        return index

    @cached_property
    def version(self) -> str:
        import zengin_code

        return str(zengin_code.__version__)


_catalogue: _Catalogue | None = None
_catalogue_lock = threading.Lock()


def catalogue() -> _Catalogue:
    global _catalogue  # the one process-wide copy of the tables
    if _catalogue is None:
        with _catalogue_lock:
            if _catalogue is None:
                _catalogue = _Catalogue()
    return _catalogue


def _code(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def get_bank(code: str) -> Bank | None:
    """The bank with this 4-digit code (full-width digits accepted), or None."""
    return catalogue().banks.get(_code(code))


def get_branch(bank_code: str, branch_code: str) -> Branch | None:
    """The branch with this 3-digit code at this bank, or None."""
    return catalogue().branches.get(_code(bank_code), {}).get(_code(branch_code))


def search_banks(query: str, limit: int = 20) -> list[Bank]:
    """Banks whose code, name or reading contains the query; exact code, then prefixes, first."""
    return catalogue().bank_index.search(query, limit)


def search_branches(bank_code: str, query: str, limit: int = 20) -> list[Branch]:
    """Branches of one bank whose code, name or reading contains the query, ranked as banks are."""
    return catalogue().branch_index(_code(bank_code)).search(query, limit)


def all_banks() -> Iterable[Bank]:
    return catalogue().banks.values()
