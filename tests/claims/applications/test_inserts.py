"""``config.inserts.insert_rows`` — an application's rows in one statement — writes what the ORM's
``save()`` writes, field for field, and nothing when the statement is refused."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pghistory
import pytest
from django.db import IntegrityError, transaction
from django.db.models import Model
from pghistory.models import Events

from claims.models import Application, ApplicationStatusChange, BankAccount, Incident
from config.inserts import NewRow, insert_rows
from coupons.models import Coupon
from notifications.models import Message, MessageStatusChange
from notifications.services import message_prepare, message_rows
from tests.factories import CouponFactory, jst

pytestmark = pytest.mark.django_db

NOW = jst(2023, 3, 25, 10)


def _application(incident: Incident, coupon: Coupon, key: str) -> Application:
    return Application(
        public_id=uuid.uuid4(),
        incident=incident,
        coupon=coupon,
        name="千葉 花子",
        name_kana="チバ ハナコ",
        phone="+819012345678",
        prefecture_code="12",
        travel_date=dt.date(2023, 2, 23),
        payout_method="bank",
        code_hash="h" * 64,
        code_sent_at=NOW,
        idempotency_key=key,
        request_fingerprint="f" * 64,
        response_body='{"status": "awaiting_verification"}',
        created_at=NOW,
        updated_at=NOW,
    )


def _rows(incident: Incident, coupon: Coupon, key: str) -> dict[str, Model]:
    application = _application(incident, coupon, key)
    message = message_prepare(
        channel="sms",
        to="090-1234-5678",
        template="verification_code",
        context={"code": "123456", "minutes": 30},
        reference=str(application.public_id),
    )
    return {
        "application": application,
        "status": ApplicationStatusChange(
            from_status="", to_status="awaiting_verification", note="申請", at=NOW
        ),
        "bank": BankAccount(
            coupon=coupon,
            bank_code="0005",
            bank_name="三菱ＵＦＪ",
            branch_code="001",
            branch_name="本店",
            account_type="ordinary",
            account_number="1234567",
            holder_kana="ﾁﾊﾞ ﾊﾅｺ",
            created_at=NOW,
        ),
        "message": message,
    }


def _write_with_the_orm(rows: dict[str, Any]) -> None:
    with transaction.atomic():
        rows["application"].save()
        rows["status"].application = rows["application"]
        rows["status"].save()
        rows["bank"].application = rows["application"]
        rows["bank"].save()
        rows["message"].save()
        MessageStatusChange.objects.create(
            message=rows["message"], from_status="", to_status="pending", note="enqueued"
        )


def _write_in_one_statement(rows: dict[str, Any]) -> None:
    insert_rows(
        [
            NewRow("application", rows["application"]),
            NewRow("application_status", rows["status"], parents={"application_id": "application"}),
            NewRow("bank_account", rows["bank"], parents={"application_id": "application"}),
            *message_rows(rows["message"]),
        ]
    )


# Columns that differ between two writes of the same values: keys, unique values, and the times
# the database stamps.
DIFFERENT = {
    *("id", "public_id", "idempotency_key", "key", "reference"),
    *("created_at", "updated_at", "next_attempt_at"),
}


def _stored(instance: Model) -> dict[str, Any]:
    model = type(instance)
    row = model.objects.filter(pk=instance.pk).values().get()
    if model is BankAccount:
        row["account_number"] = model.objects.get(pk=instance.pk).account_number  # decrypted
    return {
        key: value
        for key, value in row.items()
        if key not in DIFFERENT and not (key.endswith("_id") and key not in {"incident_id", "coupon_id"})
    }


def test_one_statement_writes_what_the_orm_writes(incident: Incident) -> None:
    coupon = CouponFactory()
    by_orm, by_statement = _rows(incident, coupon, "orm-key-1"), _rows(incident, coupon, "one-statement-1")
    _write_with_the_orm(by_orm)
    _write_in_one_statement(by_statement)

    for name in by_orm:
        assert _stored(by_statement[name]) == _stored(by_orm[name]), name
    enqueued = MessageStatusChange.objects.get(message=by_statement["message"])
    assert (enqueued.from_status, enqueued.to_status, enqueued.note) == ("", "pending", "enqueued")


def test_the_instances_read_as_saved_ones(incident: Incident) -> None:
    rows = _rows(incident, CouponFactory(), "one-statement-2")
    _write_in_one_statement(rows)

    application, message = rows["application"], rows["message"]
    assert not application._state.adding
    assert application.pk is not None
    assert rows["status"].application_id == application.pk
    assert rows["status"].application is application  # cached, as save() leaves it
    assert rows["bank"].application_id == application.pk
    stored = Message.objects.get(pk=message.pk)
    # The columns the database fills (db_default) came back with the INSERT.
    assert (message.status, message.created_at, message.next_attempt_at) == (
        stored.status,
        stored.created_at,
        stored.next_attempt_at,
    )
    assert BankAccount.objects.get(pk=rows["bank"].pk).account_number == "1234567"
    # At rest the account number is ciphertext, as the ORM stores it.
    raw = BankAccount.objects.filter(pk=rows["bank"].pk).extra(select={"raw": "account_number"})
    assert "1234567" not in str(raw.values_list("raw", flat=True).get())


def test_a_refused_statement_writes_nothing(incident: Incident) -> None:
    coupon = CouponFactory()
    _write_in_one_statement(_rows(incident, coupon, "taken-key"))
    counts = [m.objects.count() for m in (Application, ApplicationStatusChange, BankAccount, Message)]

    with pytest.raises(IntegrityError), transaction.atomic():
        _write_in_one_statement(_rows(incident, coupon, "taken-key"))

    assert [m.objects.count() for m in (Application, ApplicationStatusChange, BankAccount, Message)] == counts


def test_the_audit_trail_keeps_the_request_context(incident: Incident) -> None:
    rows = _rows(incident, CouponFactory(), "audited-key")
    with pghistory.context(user=None, url="/api/v1/applications"):
        _write_in_one_statement(rows)

    (event,) = Events.objects.tracks(rows["application"])
    assert event.pgh_label == "insert"
    assert event.pgh_context["url"] == "/api/v1/applications"
    assert "name" not in event.pgh_data
