"""The staff pages of transfer batches: list, create, preview with totals per bank, approve by
another person, download the Zengin file, upload returns. The rules live in the services; the
pages only call them (and a refused approval changes nothing)."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from payouts.models import Payout, TransferBatch
from tests.payouts.batching import bank_payout
from tests.payouts.zengin_reader import read_zengin
from tests.staff import login_verified

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("batch_day", "requester")]

LIST = "admin:payouts_transferbatch_changelist"


def test_create_preview_approve_and_download(client, incident, maker, checker) -> None:
    bank_payout(incident, 1_000)
    bank_payout(incident, 2_000, bank_code="9900", branch_code="408")
    login_verified(client, maker)

    page = client.get(reverse(LIST))
    assert page.status_code == 200
    assert "振込可能（バッチ待ち）の支払: 2 件・3,000 円" in page.content.decode()
    response = client.post(reverse("admin:payouts_transferbatch_create"))
    batch = TransferBatch.objects.get()
    assert response.url == reverse("admin:payouts_transferbatch_change", args=[batch.pk])

    preview = client.get(response.url).content.decode()
    assert "ゆうちょ" in preview
    assert "2,000 円" in preview
    assert "承認は別の承認者" in preview
    assert "このバッチを承認する" not in preview

    # The maker posting the approval anyway is refused by the service, and nothing changes.
    refused = client.post(reverse("admin:payouts_transferbatch_approve", args=[batch.pk]))
    assert refused.status_code == 403
    assert TransferBatch.objects.get().status == "draft"

    login_verified(client, checker)
    assert "このバッチを承認する" in client.get(response.url).content.decode()
    client.post(reverse("admin:payouts_transferbatch_approve", args=[batch.pk]))
    assert TransferBatch.objects.get().status == "approved"
    assert set(Payout.objects.values_list("status", flat=True)) == {"approved"}

    download = client.get(reverse("admin:payouts_transferbatch_zengin", args=[batch.pk]))
    assert download.status_code == 200
    assert download["Content-Disposition"] == f'attachment; filename="sogo-furikomi-{batch.pk}.txt"'
    assert int(read_zengin(download.content).trailer["total"]) == 3_000
    assert (
        client.get(reverse("admin:payouts_transferbatch_zengin", args=[batch.pk])).content == download.content
    )


def test_a_second_approval_is_told_who_was_first(client, incident, maker, checker, staff_user) -> None:
    bank_payout(incident)
    login_verified(client, maker)
    client.post(reverse("admin:payouts_transferbatch_create"))
    batch = TransferBatch.objects.get()
    login_verified(client, checker)
    client.post(reverse("admin:payouts_transferbatch_approve", args=[batch.pk]))
    other = staff_user("approver", username="other-approver")
    login_verified(client, other)
    late = client.post(reverse("admin:payouts_transferbatch_approve", args=[batch.pk]))
    assert late.status_code == 409
    assert "checker" in late.content.decode()


def test_agents_do_not_see_batches(staff_client) -> None:
    assert staff_client("agent").get(reverse(LIST)).status_code == 403


def test_a_bad_returns_file_is_refused_on_the_page(client, maker) -> None:
    login_verified(client, maker)
    upload = SimpleUploadedFile(
        "returns.csv", b"batch_id,customer_code,reason\nx,1,\n", content_type="text/csv"
    )
    page = client.post(reverse("admin:payouts_transferbatch_returns"), {"file": upload}).content.decode()
    assert "何も変更していません" in page
    assert "2行目 batch_id" in page


def test_a_return_typed_in_on_the_batch_page(client, incident, maker, checker, tmp_path) -> None:
    from payouts.services.batches import batch_approve, batch_create, batch_export_zengin

    payout = bank_payout(incident, 4_000)
    batch = batch_create(incident=incident, by=maker).batch
    batch_approve(batch_id=batch.pk, by=checker)
    batch_export_zengin(batch_id=batch.pk, out=tmp_path / "f.txt")
    login_verified(client, maker)
    url = reverse("admin:payouts_transferbatch_return", args=[batch.pk])
    assert (
        "組戻しを1件記録する"
        in client.get(reverse("admin:payouts_transferbatch_change", args=[batch.pk])).content.decode()
    )

    client.post(url, {"customer_code": "abc", "reason": ""})
    assert Payout.objects.get(pk=payout.pk).status == "approved"  # refused: nothing changed
    client.post(url, {"customer_code": str(payout.pk), "reason": "口座解約済み"})
    assert Payout.objects.get(pk=payout.pk).status == "awaiting_bank_details"
    assert batch.lines.get().return_reason == "口座解約済み"
