"""The Zengin 総合振込 writer, read back by an independent reader (tests/payouts/zengin_reader.py)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from claims.banking.banks import AccountType, get_bank, get_branch
from claims.banking.kana import zengin_kana, zengin_truncate
from payouts.zengin import Requester, Transfer, ZenginError, write_zengin_file
from tests.payouts.zengin_reader import ReadError, read_zengin

BUSINESS_DAY = dt.date(2023, 5, 15)  # a Monday

REQUESTER = Requester(
    code="1234567890",
    name="ﾘ-ｼﾞﾖﾝﾍﾟｲ ｼﾖｳｶﾞｲﾎｼﾖｳ ｼﾞﾑｷﾖｸ",
    bank_code="0001",
    bank_name="ﾐｽﾞﾎ",
    branch_code="001",
    branch_name="ﾄｳｷﾖｳ",
    account_type=AccountType.ORDINARY,
    account_number="1234567",
)


def transfer(**overrides: object) -> Transfer:
    values: dict[str, object] = {
        "bank_code": "0005",
        "bank_name": "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ",
        "branch_code": "341",
        "branch_name": "ｼﾝｼﾞﾕｸ",
        "account_type": AccountType.ORDINARY,
        "account_number": "7654321",
        "holder": "ﾔﾏﾀﾞ ﾀﾛｳ",
        "amount_yen": 2_000,
        "customer_code_1": "42",
    }
    values.update(overrides)
    return Transfer(**values)  # type: ignore[arg-type]


def write(transfers: list[Transfer], *, date: dt.date = BUSINESS_DAY, requester: Requester = REQUESTER):
    out = io.BytesIO()
    summary = write_zengin_file(out, requester=requester, transfer_date=date, transfers=transfers)
    return out.getvalue(), summary


def test_a_file_reads_back_field_by_field() -> None:
    content, summary = write(
        [
            transfer(),
            transfer(
                bank_code="9900",
                bank_name="ﾕｳﾁﾖ",
                branch_code="408",
                branch_name="ﾖﾝｾﾞﾛﾊﾁ",
                account_number="1234567",
                holder="ｽｽﾞｷ ﾊﾅｺ",
                amount_yen=12_345,
                customer_code_1="43",
                customer_code_2="9",
                account_type=AccountType.SAVINGS,
            ),
        ]
    )
    parsed = read_zengin(content)
    assert parsed.header == {
        "data_kind": "1",
        "type_code": "21",
        "code_kind": "0",
        "requester_code": "1234567890",
        "requester_name": "ﾘ-ｼﾞﾖﾝﾍﾟｲ ｼﾖｳｶﾞｲﾎｼﾖｳ ｼﾞﾑｷﾖｸ",
        "transfer_mmdd": "0515",
        "bank_code": "0001",
        "bank_name": "ﾐｽﾞﾎ",
        "branch_code": "001",
        "branch_name": "ﾄｳｷﾖｳ",
        "account_type": "1",
        "account_number": "1234567",
        "dummy": "",
    }
    first, second = parsed.data
    assert first == {
        "data_kind": "2",
        "bank_code": "0005",
        "bank_name": "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ",
        "branch_code": "341",
        "branch_name": "ｼﾝｼﾞﾕｸ",
        "clearing_house": "0000",
        "account_type": "1",
        "account_number": "7654321",
        "holder": "ﾔﾏﾀﾞ ﾀﾛｳ",
        "amount": "0000002000",
        "new_code": "0",
        "customer_code_1": "0000000042",
        "customer_code_2": "0000000000",
        "transfer_kind": "7",
        "edi_flag": "",
        "dummy": "",
    }
    assert (second["bank_code"], second["branch_code"], second["account_type"]) == ("9900", "408", "4")
    assert (second["holder"], second["amount"], second["customer_code_2"]) == (
        "ｽｽﾞｷ ﾊﾅｺ",
        "0000012345",
        "0000000009",
    )
    assert parsed.trailer == {"data_kind": "8", "count": "000002", "total": "000000014345", "dummy": ""}
    assert (summary.count, summary.total_yen) == (2, 14_345)
    assert summary.size_bytes == len(content) == 5 * 122
    assert summary.sha256 == hashlib.sha256(content).hexdigest()


ZENGIN_CHARS = "0123456789ABCXYZ().- \r\n" + "".join(map(chr, range(0xFF61, 0xFFA0)))


@given(st.text(alphabet=st.sampled_from(ZENGIN_CHARS)))
def test_the_zengin_set_is_encoded_exactly_as_the_shift_jis_codec_does(text: str) -> None:
    from payouts.zengin import _encode_zengin_set

    assert _encode_zengin_set(text) == text.encode("shift_jis")


@settings(max_examples=500)
@given(st.text(min_size=1), st.text(alphabet=st.sampled_from(ZENGIN_CHARS)))
def test_a_character_outside_the_one_byte_range_is_never_encoded_as_one(other: str, zengin: str) -> None:
    from payouts.zengin import _encode_zengin_set

    text = zengin + other
    one_byte = all(c < "\x61" or "\uff61" <= c <= "\uff9f" for c in text)
    encoded = _encode_zengin_set(text)
    if one_byte:
        assert encoded == text.encode("shift_jis")
    else:
        assert encoded is None
    for c in "aq±山ｰ\u0171\uff30😀":  # each shares a low byte with a character of the set
        assert _encode_zengin_set(zengin + c) is None or c == "ｰ"


def test_records_are_shift_jis_with_crlf() -> None:
    content, _ = write([transfer()])
    lines = content.split(b"\r\n")
    assert lines[-1] == b""
    assert [len(line) for line in lines[:-1]] == [120, 120, 120, 120]
    assert "ﾔﾏﾀﾞ".encode("shift_jis") in lines[1]  # half-width kana: one byte each (0xA1-0xDF)
    assert all(0xA1 <= b <= 0xDF for b in "ﾔﾏﾀﾞ".encode("shift_jis"))


def test_the_same_input_gives_identical_bytes() -> None:
    transfers = [transfer(customer_code_1=str(i), amount_yen=1000 + i) for i in range(5000)]
    first, s1 = write(transfers)
    second, s2 = write(list(transfers))
    assert first == second
    assert s1.sha256 == s2.sha256


def test_the_file_is_written_in_blocks_as_transfers_come() -> None:
    writes: list[int] = []

    class Sink(io.BytesIO):
        def write(self, b):  # type: ignore[no-untyped-def]
            writes.append(len(b))
            return super().write(b)

    def transfers():  # a generator: the writer never needs the whole list
        for i in range(4000):
            yield transfer(customer_code_1=str(i))

    sink = Sink()
    summary = write_zengin_file(sink, requester=REQUESTER, transfer_date=BUSINESS_DAY, transfers=transfers())
    assert len(writes) == 3  # 2,000 records a write, then the trailer and end
    assert writes[0] == 2001 * 122  # the header goes with the first block
    assert read_zengin(sink.getvalue()).trailer["count"] == "004000"
    assert summary.count == 4000


# What a bank would see from names converted and truncated by the caller, as the batch will do.
KANA_NAMES = st.text(
    alphabet=st.sampled_from("あいうえおかがきぎぱぴゃゅょっアイウエオヴァーｶﾞﾊﾟABCxyz0129 ()-."),
    min_size=1,
    max_size=40,
)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            KANA_NAMES,
            st.integers(min_value=1, max_value=9_999_999_999),
            st.sampled_from(list(AccountType)),
            st.integers(min_value=1, max_value=9_999_999),
        ),
        min_size=1,
        max_size=30,
    ),
    st.dates(min_value=dt.date(2023, 1, 1), max_value=dt.date(2030, 12, 31)),
)
def test_any_batch_reads_back_with_matching_totals(rows: list, date: dt.date) -> None:
    from claims.banking.calendar import next_bank_business_day

    transfers = []
    for i, (typed, amount, account_type, number) in enumerate(rows):
        try:
            holder = zengin_truncate(zengin_kana(typed), 30)
        except ValueError:
            continue
        if not holder:
            continue
        transfers.append(
            transfer(
                holder=holder,
                amount_yen=amount,
                account_type=account_type,
                account_number=str(number),
                customer_code_1=str(i),
            )
        )
    if not transfers:
        return
    day = next_bank_business_day(date)
    content, summary = write(transfers, date=day)
    parsed = read_zengin(content)
    assert parsed.header["transfer_mmdd"] == f"{day:%m%d}"
    assert int(parsed.trailer["count"]) == len(parsed.data) == len(transfers)
    assert int(parsed.trailer["total"]) == sum(int(d["amount"]) for d in parsed.data) == summary.total_yen
    for t, d in zip(transfers, parsed.data, strict=True):
        assert d["holder"] == t.holder.rstrip(" ")
        assert int(d["amount"]) == t.amount_yen
        assert d["account_number"] == t.account_number.zfill(7)
        assert d["account_type"] == {"ordinary": "1", "current": "2", "savings": "4"}[t.account_type]


def test_bank_and_branch_names_from_the_tables_fit() -> None:
    bank, branch = get_bank("0005"), get_branch("0005", "341")
    assert bank is not None
    assert branch is not None
    content, _ = write([transfer(bank_name=bank.zengin_name, branch_name=branch.zengin_name)])
    assert read_zengin(content).data[0]["bank_name"] == "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ"


@pytest.mark.parametrize(
    "day",
    [dt.date(2023, 5, 13), dt.date(2023, 5, 3), dt.date(2023, 12, 31), dt.date(2024, 1, 3)],
)
def test_a_transfer_date_on_which_banks_are_closed_is_refused(day: dt.date) -> None:
    out = io.BytesIO()
    with pytest.raises(ZenginError, match="営業日ではありません"):
        write_zengin_file(out, requester=REQUESTER, transfer_date=day, transfers=[transfer()])
    assert out.getvalue() == b""


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"holder": "ﾔﾏﾀﾞ ﾀﾛｳ" + "ｱ" * 30}, "受取人名は30バイトまで"),
        ({"holder": "やまだ"}, "受取人名は30バイトまで"),
        ({"holder": "yamada"}, "受取人名は30バイトまで"),
        ({"holder": "   "}, "受取人名がありません"),
        ({"holder": " ﾔﾏﾀﾞ"}, "受取人名の先頭に空白"),
        ({"amount_yen": 0}, "振込金額は1円から"),
        ({"amount_yen": 10_000_000_000}, "振込金額は1円から"),
        ({"amount_yen": 100.0}, "振込金額は1円から"),
        ({"account_number": "12345678"}, "口座番号は7桁までの"),
        ({"account_number": "１２３"}, "口座番号は7桁までの"),
        ({"account_number": ""}, "口座番号がありません"),
        ({"account_number": "0000000"}, "口座番号がありません"),
        ({"amount_yen": -5}, "振込金額は1円から"),
        ({"bank_code": "5"}, "被仕向銀行番号は4桁"),
        ({"branch_code": "34a"}, "被仕向支店番号は3桁"),
        ({"bank_name": "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲｷﾞﾝｺｳ"}, "被仕向銀行名は15バイトまで"),
        ({"customer_code_1": "12345678901"}, "顧客コード1は10桁まで"),
        ({"account_type": "cheque"}, "預金種目は"),
        ({"new_code": "5"}, "新規コードは0・1・2のいずれか"),
        ({"transfer_kind": ""}, "振込指定区分は7・8のいずれか"),
        ({"amount_yen": True}, "振込金額は1円から"),
        ({"account_number": "00012a"}, "口座番号は7桁までの"),
        ({"bank_code": "000", "bank_name": "1ﾐﾂﾋﾞｼ"}, "被仕向銀行番号は4桁"),  # shifted fields still refused
    ],
)
def test_a_field_that_does_not_fit_is_refused_naming_the_line(overrides: dict, says: str) -> None:
    out = io.BytesIO()
    transfers = [transfer(customer_code_1="1"), transfer(customer_code_1="2"), transfer(**overrides)]
    with pytest.raises(ZenginError) as excinfo:
        write_zengin_file(out, requester=REQUESTER, transfer_date=BUSINESS_DAY, transfers=transfers)
    message = str(excinfo.value)
    assert "振込データ 3 件目（ファイルの 4 行目" in message
    assert says in message
    assert "ﾔﾏﾀﾞ" not in message  # the person's name stays out of messages and logs
    assert out.getvalue() == b""  # the first block had not been written yet


def test_a_requester_that_does_not_fit_is_refused() -> None:
    bad = Requester(**{**{f: getattr(REQUESTER, f) for f in Requester.__slots__}, "name": "ｱ" * 41})
    with pytest.raises(ZenginError, match="ヘッダー（依頼人）: 依頼人名は40バイトまで"):
        write([transfer()], requester=bad)


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(ZenginError, match="1件も"):
        write([])


def test_a_bad_record_in_a_later_block_is_named() -> None:
    transfers = [transfer(customer_code_1=str(i)) for i in range(1, 2500)]
    transfers[2300] = transfer(customer_code_1="2301", holder="ﾔﾏﾀﾞ/ﾀﾛｳ")
    named = r"振込データ 2301 件目（ファイルの 2302 行目、顧客コード1 2301）: 受取人名は"
    with pytest.raises(ZenginError, match=named):
        write(transfers)


def test_the_reader_is_not_fooled() -> None:
    content, _ = write([transfer()])
    with pytest.raises(ReadError):
        read_zengin(content[:-2] + b"\n\n")  # LF, not CRLF
    with pytest.raises(ReadError):
        read_zengin(content.replace(b"0000002000", b"00000020.0"))
    with pytest.raises(ReadError):
        read_zengin(content[122:])  # no header
    with pytest.raises(ReadError):
        read_zengin(content.replace("ﾔﾏﾀﾞ ﾀﾛｳ ".encode("shift_jis"), " ﾔﾏﾀﾞ ﾀﾛｳ".encode("shift_jis")))


# Values near the edges of each field, valid or not, for the two checks of a block to disagree on.
FIELD_VALUES = st.fixed_dictionaries(
    {
        "bank_code": st.sampled_from(["0005", "9900"]),
        "bank_name": st.sampled_from(["", "ﾐｽﾞﾎ", "ｱ" * 15, "ｱ" * 16, "ﾐｽﾞﾎ\r", "mizuho", "ﾐ\nｽﾞ"]),
        "branch_code": st.sampled_from(["001", "408"]),
        "branch_name": st.sampled_from(["", "ﾄｳｷﾖｳ", "ｼﾝｼﾞﾕｸ(ﾆｼ)", "東京", "ｰｰ"]),
        "account_type": st.sampled_from(["ordinary", "current", "savings"]),
        "account_number": st.sampled_from(["1234567", "1", "0", "0000000", "12345678", "12a", "", "１２"]),
        "holder": st.sampled_from(["ﾔﾏﾀﾞ ﾀﾛｳ", " ﾔﾏﾀﾞ", "ｱ" * 30, "ｱ" * 31, "", "ﾔﾏﾀﾞ/ﾀﾛｳ", "ﾔ\r\nﾏ", "ｧ"]),
        "amount_yen": st.sampled_from([1, 2000, 9_999_999_999, 10_000_000_000, 0, -5]),
        "customer_code_1": st.sampled_from(["1", "", "1234567890", "12345678901", "x"]),
        "customer_code_2": st.sampled_from(["", "9"]),
        "new_code": st.sampled_from(["0", "1", "2", "3", ""]),
        "transfer_kind": st.sampled_from(["7", "8", "9", ""]),
    }
)


@settings(max_examples=400, deadline=None)
@given(st.lists(FIELD_VALUES, min_size=1, max_size=4))
def test_the_fast_block_check_agrees_with_the_pattern(rows: list[dict]) -> None:
    from payouts.zengin import _DATA_BLOCK, _block_fits, _encode_zengin_set, _format_block

    block = [Transfer(**row) for row in rows]
    data = _encode_zengin_set("\r\n".join(_format_block(block)) + "\r\n")
    if data is None:
        return  # a character outside the one-byte range: refused before either check
    assert _block_fits(data, block) == bool(_DATA_BLOCK.fullmatch(data))
