"""The outbox in the admin: staff read it (recipients masked in the list) and resend failed ones."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from notifications.models import Message
from notifications.services import message_enqueue, message_send
from tests.staff import login_verified


class Refusing:
    def send(self, envelope: object) -> str:
        from notifications.backends import PermanentSendError

        raise PermanentSendError("invalid destination")


@pytest.fixture
def failed_message(settings) -> Message:
    settings.NOTIFY_BACKEND = f"{__name__}.Refusing"
    message = message_enqueue(
        channel="sms",
        to="090-1234-5678",
        template="verification_code",
        context={"code": "480517", "minutes": 30},
        reference="RP-7K3M-9Q2X",
    )
    message_send(message_id=message.pk)
    message.refresh_from_db()
    assert message.status == "failed"
    return message


def staff_client(client, django_user_model, *perms: str):
    user = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(content_type__app_label="notifications", codename__in=perms)
    )
    return login_verified(client, user)  # password and a verified second factor


@pytest.mark.django_db
def test_the_list_masks_recipients_and_offers_no_edits(
    client, django_user_model, failed_message: Message
) -> None:
    staff = staff_client(client, django_user_model, "view_message")
    page = staff.get(reverse("admin:notifications_message_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "090-****-5678" in html
    assert "+819012345678" not in html
    assert "RP-7K3M-9Q2X" in html
    assert reverse("admin:notifications_message_add") not in html
    assert "resend_failed" not in html  # no resend permission, no action
    shown = staff.get(reverse("admin:notifications_message_change", args=[failed_message.pk]))
    assert shown.status_code == 200
    assert "確認コード：●●●●●●" in shown.content.decode()
    assert "480517" not in shown.content.decode()  # staff never see a traveller's code
    detail = staff.post(reverse("admin:notifications_message_change", args=[failed_message.pk]), {"to": "x"})
    assert detail.status_code == 403
    failed_message.refresh_from_db()
    assert failed_message.to == "+819012345678"


@pytest.mark.django_db
def test_staff_without_permission_cannot_see_the_outbox(
    client, django_user_model, failed_message: Message
) -> None:
    staff = staff_client(client, django_user_model)
    assert staff.get(reverse("admin:notifications_message_changelist")).status_code == 403


@pytest.mark.django_db
def test_resend_failed_puts_only_failed_messages_back(
    client, django_user_model, failed_message: Message, settings
) -> None:
    settings.NOTIFY_BACKEND = "file"
    sent = message_enqueue(
        channel="email",
        to="a@example.jp",
        template="verification_code",
        context={"code": "1", "minutes": 1},
        reference="9",
    )
    message_send(message_id=sent.pk)
    staff = staff_client(client, django_user_model, "view_message", "resend_message")
    response = staff.post(
        reverse("admin:notifications_message_changelist"),
        {"action": "resend_failed", "_selected_action": [failed_message.pk, sent.pk]},
        follow=True,
    )
    assert response.status_code == 200
    text = response.content.decode()
    assert "1件を再送の待ち行列に戻しました。" in text
    assert "1件は送信失敗の状態ではないため" in text
    failed_message.refresh_from_db()
    sent.refresh_from_db()
    assert failed_message.status == "pending"
    assert failed_message.status_changes.last().actor.username == "staff"
    assert sent.status == "sent"
