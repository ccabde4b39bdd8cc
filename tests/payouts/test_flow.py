"""The held-out flow of issue #10's first "Done when": from the ledger's final balances to the
Zengin file, with exactly the expected amounts.

ledger → the engine's final balances (2023-04-01 00:00 JST) → run_payouts (payouts) → receipt
links in the outbox (4/3) → choices through the receipt API → vendor orders and the delivered
webhook → a transfer batch made by one person and approved by another (5/10) → the Zengin file,
read back by the independent reader (tests/payouts/zengin_reader.py) → reconciliation adds up.

The gift vendor is the one party we cannot reach: a recording vendor behind ``GiftVendor`` stands
in for it (the HTTP adapter and its sandbox are P1's tests). Everything else is the real code on
real PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from claims.models import BankAccount, Entitlement
from claims.services.eligibility import eligibility_run
from notifications.models import Message
from payouts.gateway import OrderRequest, VendorOrder
from payouts.models import GiftOrder, Payout
from payouts.services.batches import batch_approve, batch_create, batch_export_zengin
from payouts.services.orders import order_event, order_place
from payouts.services.reconciliation import reconcile
from payouts.services.runs import payouts_run
from tests.factories import CouponFactory, MovementFactory, StoreFactory, jst
from tests.payouts.batching import BATCH_DAY, seed_requester_account
from tests.payouts.conftest import application_for
from tests.payouts.zengin_reader import read_zengin
from tests.staff import make_staff

pytestmark = pytest.mark.django_db

TOKEN_RE = re.compile(r"/r/([A-Za-z0-9_-]+)")


class RecordingVendor:
    """The gift vendor's stand-in: one order per external id, as the real one promises."""

    def __init__(self) -> None:
        self.orders: dict[str, OrderRequest] = {}

    def place_order(self, order: OrderRequest) -> VendorOrder:
        self.orders.setdefault(order.external_id, order)
        return VendorOrder(vendor_order_id=f"V-{order.external_id}", status="accepted")


def coupon_with_final_balance(number: str, final_yen: int, **app: str):
    """A 1-1 coupon (expiry 2/24) with 3,000 issued, some spent on 3/10 (after the cut-off of
    2/27, within the extension): its final balance is ``final_yen``."""
    store = StoreFactory(store_id="S-FLOW")
    coupon = CouponFactory(inquiry_number=number, expires_on=dt.date(2023, 2, 24), **app)
    MovementFactory(coupon=coupon, kind="issue", amount_yen=3_000, occurred_at=jst(2023, 2, 23, 10))
    if final_yen < 3_000:
        MovementFactory(
            coupon=coupon,
            kind="payment",
            amount_yen=-(3_000 - final_yen),
            store=store,
            request_id=f"R-{number}",
            occurred_at=jst(2023, 3, 10, 12),
        )
    return coupon


def test_final_balances_to_the_zengin_file_with_exactly_the_expected_amounts(
    incident, portal_clock, tmp_path
) -> None:
    # Given five 1-1 coupons: two app users (points by SMS and by e-mail), two applicants who asked
    # for a bank transfer (different banks), and one that was used up during the extension.
    app = {"app_account_id": "APP-1", "app_phone": "+819011112222"}
    coupon_with_final_balance("FLOW000001", 2_345, **app)
    coupon_with_final_balance("FLOW000002", 1_000, app_account_id="APP-2", app_email="b@example.jp")
    coupon_with_final_balance("FLOW000003", 2_999)
    coupon_with_final_balance("FLOW000004", 777)
    coupon_with_final_balance("FLOW000005", 0)

    # When the engine runs after the final instant
    eligibility_run(incident=incident, as_of=jst(2023, 4, 1, 0, 5))
    finals = dict(Entitlement.objects.filter(incident=incident).values_list("coupon_id", "final_balance_yen"))
    assert finals == {
        "FLOW000001": 2_345,
        "FLOW000002": 1_000,
        "FLOW000003": 2_999,
        "FLOW000004": 777,
        "FLOW000005": 0,
    }
    # (the two without an app applied on the site, asking for a bank transfer)
    application_for(
        Entitlement.objects.get(coupon_id="FLOW000003"), method="bank", phone="+819033334444", bank=True
    )
    fourth = application_for(
        Entitlement.objects.get(coupon_id="FLOW000004"), method="bank", email="d@example.jp"
    )
    BankAccount.objects.create(
        application=fourth,
        coupon_id="FLOW000004",
        bank_code="9900",
        branch_code="408",
        account_type="ordinary",
        account_number="7654321",
        holder_kana="ﾀﾃﾔﾏ ｼﾞﾛｳ",
        created_at=jst(2023, 3, 25, 10),
    )

    # run_payouts after the final instant: one payout per payable entitlement
    payouts_run()
    payouts = {p.inquiry_number: p for p in Payout.objects.all()}
    assert {n: (p.method, p.status, p.amount_yen) for n, p in payouts.items()} == {
        "FLOW000001": ("points", "created", 2_345),
        "FLOW000002": ("points", "created", 1_000),
        "FLOW000003": ("bank", "ready", 2_999),
        "FLOW000004": ("bank", "ready", 777),
    }

    # From 4/3 the receipt links go out through the outbox, one per points payout
    portal_clock.set(jst(2023, 4, 3, 9))
    payouts_run()
    links = {m.to: TOKEN_RE.search(m.body).group(1) for m in Message.objects.filter(template="receipt_link")}
    assert set(links) == {"+819011112222", "b@example.jp"}

    # The travellers choose through the receipt API; the vendor takes one order per choice
    for to, brand in (("+819011112222", "paypay"), ("b@example.jp", "amazon")):
        answer = Client().post(
            f"/api/v1/receipts/{links[to]}", {"brand": brand}, content_type="application/json"
        )
        assert answer.status_code == 201, answer.content  # created: the choice is taken
    vendor = RecordingVendor()
    for payout_id in GiftOrder.objects.values_list("payout_id", flat=True):
        assert order_place(payout_id=payout_id, vendor=vendor).status == "accepted"
        assert order_place(payout_id=payout_id, vendor=vendor).status == "skipped"  # once
    assert sorted((o.brand, o.amount_yen) for o in vendor.orders.values()) == [
        ("amazon", 1_000),
        ("paypay", 2_345),
    ]
    for order in GiftOrder.objects.all():
        assert order_event(
            external_id=order.external_id, event="delivered", vendor_order_id=f"V-{order.external_id}"
        )

    # On 5/10 one person makes the batch, another approves it, and the file is written
    portal_clock.set(BATCH_DAY)
    seed_requester_account()
    maker, checker = make_staff("operations", username="maker"), make_staff("approver", username="checker")
    batch = batch_create(incident=incident, by=maker).batch
    batch_approve(batch_id=batch.pk, by=checker)
    out = tmp_path / "sogo-furikomi.txt"
    _, summary = batch_export_zengin(batch_id=batch.pk, out=out)

    # Then the file reads back with exactly the bank transfers' amounts, accounts and totals
    parsed = read_zengin(out.read_bytes())
    assert parsed.header["transfer_mmdd"] == "0515"
    records = {
        int(d["customer_code_1"]): (
            d["bank_code"],
            d["branch_code"],
            d["account_number"],
            d["holder"],
            int(d["amount"]),
        )
        for d in parsed.data
    }
    assert records == {
        payouts["FLOW000003"].pk: ("0005", "001", "1234567", "ﾁﾊﾞ ﾊﾅｺ", 2_999),
        payouts["FLOW000004"].pk: ("9900", "408", "7654321", "ﾀﾃﾔﾏ ｼﾞﾛｳ", 777),
    }
    assert (int(parsed.trailer["count"]), int(parsed.trailer["total"])) == (2, 3_776)
    assert (summary.count, summary.total_yen) == (2, 3_776)

    # And every yen is accounted for: 2,345 + 1,000 delivered, 3,776 approved for transfer, 0 used up
    statuses = dict(Payout.objects.values_list("inquiry_number", "status"))
    assert statuses == {
        "FLOW000001": "delivered",
        "FLOW000002": "delivered",
        "FLOW000003": "approved",
        "FLOW000004": "approved",
    }
    result = reconcile(incident=incident)
    assert result.adds_up, result.exceptions
    assert (result.final_yen, result.yen["ordered"], result.yen["pending"]) == (7_121, 3_345, 3_776)
    assert result.counts["used_up"] == 1
