"""The portal's own account for the Zengin header: data with history, edited by operations."""

from __future__ import annotations

import datetime as dt
import importlib
import io

import pytest
from django.apps import apps
from django.db import DataError, IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from claims.models import Incident
from payouts.models import RequesterAccount
from payouts.zengin import Transfer, write_zengin_file
from tests.claims.conftest import create_incident
from tests.payouts.zengin_reader import read_zengin

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(db) -> RequesterAccount:
    """The account as the data migrations leave it (re-made after a transactional test's flush)."""
    if not Incident.objects.filter(code="regionpay-2023-02-24").exists():
        create_incident()  # the live registry: the migration's simple-history model is gone
    if not RequesterAccount.objects.exists():
        importlib.import_module("payouts.migrations.0002_requester_account_demo").seed_requester_account(
            apps, None
        )
    return RequesterAccount.objects.get(incident__code="regionpay-2023-02-24")


@pytest.fixture
def operations(staff_client) -> Client:
    return staff_client("operations")


def test_the_migration_seeds_a_demo_account_with_its_first_history_entry(account: RequesterAccount) -> None:
    assert (account.requester_code, account.bank_code, account.branch_code) == ("1234567890", "0134", "100")
    assert account.requester_name == "ﾁﾊﾞﾄｸﾀﾋﾞ ﾎｼﾖｳｼﾞﾑｷﾖｸ"
    first = account.history.get()
    assert first.history_type == "+"
    assert "デモ" in first.history_change_reason


def test_the_header_of_a_file_names_the_account(account: RequesterAccount) -> None:
    out = io.BytesIO()
    transfer = Transfer("0005", "ﾐﾂﾋﾞｼﾕ-ｴﾌｼﾞｴｲ", "341", "ｼﾝｼﾞﾕｸ", "ordinary", "7654321", "ﾔﾏﾀﾞ ﾀﾛｳ", 2000, "1")
    write_zengin_file(
        out, requester=account.as_requester(), transfer_date=dt.date(2023, 5, 15), transfers=[transfer]
    )
    header = read_zengin(out.getvalue()).header
    assert header["requester_code"] == "1234567890"
    assert header["requester_name"] == "ﾁﾊﾞﾄｸﾀﾋﾞ ﾎｼﾖｳｼﾞﾑｷﾖｸ"
    assert (header["bank_code"], header["bank_name"]) == ("0134", "ﾁﾊﾞ")
    assert (header["branch_code"], header["branch_name"]) == ("100", "ﾎﾝﾃﾝ")
    assert (header["account_type"], header["account_number"]) == ("1", "1234567")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("requester_code", "12345678901"),
        ("requester_code", "12a"),
        ("requester_name", "千葉とく旅"),
        ("requester_name", "ﾁﾊﾞ/ﾄｸﾀﾋﾞ"),
        ("requester_name", ""),
        ("bank_code", "134"),
        ("branch_code", "1000"),
        ("account_type", "cheque"),
        ("account_number", "123456"),
    ],
)
def test_the_database_refuses_what_the_bank_cannot_read(account, field: str, value: str) -> None:
    setattr(account, field, value)
    with pytest.raises((IntegrityError, DataError)), transaction.atomic():  # a constraint, or too long
        account.save()
    account.refresh_from_db()
    assert getattr(account, field) != value


def change_url(account: RequesterAccount) -> str:
    return reverse("admin:payouts_requesteraccount_change", args=[account.pk])


def form_data(account: RequesterAccount, **changes: str) -> dict[str, str]:
    data = {
        "requester_code": account.requester_code,
        "requester_name": account.requester_name,
        "bank_code": account.bank_code,
        "branch_code": account.branch_code,
        "account_type": account.account_type,
        "account_number": account.account_number,
    }
    data.update(changes)
    return data


def test_operations_correct_the_account_and_the_history_says_who(account, operations, staff_user) -> None:
    client = operations

    response = client.post(
        change_url(account),
        form_data(
            account,
            requester_name="ちばとくたび ほしょうじむきょく",
            branch_code="００１",
            account_number="98765",
        ),
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    account.refresh_from_db()
    assert account.requester_name == "ﾁﾊﾞﾄｸﾀﾋﾞ ﾎｼﾖｳｼﾞﾑｷﾖｸ"  # typed in hiragana, kept as the bank reads it
    assert (account.branch_code, account.account_number) == ("001", "0098765")
    latest = account.history.first()
    assert latest.history_user == staff_user("operations")
    assert latest.history_type == "~"
    assert account.history.count() == 2


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"requester_name": "千葉とく旅 補償事務局"}, "漢字"),
        ({"requester_name": "ｱ" * 41}, "40バイト"),
        ({"bank_code": "9999"}, "この銀行コードの銀行はありません"),
        ({"branch_code": "999"}, "この支店コードの支店はありません"),
        ({"account_number": "12345678"}, "7桁までの数字"),
    ],
)
def test_a_correction_the_bank_could_not_read_is_refused(account, operations, changes, says) -> None:
    client = operations
    before = account.history.count()

    response = client.post(change_url(account), form_data(account, **changes))

    assert response.status_code == 200
    assert says in response.content.decode()
    assert account.history.count() == before
    fresh = RequesterAccount.objects.get(pk=account.pk)
    assert fresh.requester_name == account.requester_name
    assert (fresh.bank_code, fresh.branch_code, fresh.account_number) == (
        account.bank_code,
        account.branch_code,
        account.account_number,
    )


def test_the_account_is_neither_added_nor_deleted_in_the_admin(account, operations) -> None:
    client = operations
    assert client.get(reverse("admin:payouts_requesteraccount_add")).status_code == 403
    assert client.get(reverse("admin:payouts_requesteraccount_delete", args=[account.pk])).status_code == 403


def test_the_call_center_cannot_see_the_account(account, staff_client) -> None:
    response = staff_client("agent").get(change_url(account))
    assert response.status_code == 403
