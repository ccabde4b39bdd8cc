from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from coupons.models import CouponMovement, ImportRun, Store
from tests.factories import CouponFactory, MovementFactory, StoreFactory, jst
from tests.staff import login_verified

pytestmark = pytest.mark.django_db


def test_staff_pages_send_anonymous_visitors_to_the_login_page(client) -> None:
    coupon = CouponFactory()

    response = client.get(reverse("admin:coupons_coupon_change", args=[coupon.pk]))

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_coupon_page_shows_the_ledger_in_japan_time_with_balances_at_the_cut_offs(client, staff) -> None:
    # Given a coupon charged 3,000 and paid 1,000 at 23:59:59 JST on 2/26 and 500 at exactly 0:00 on 2/27
    store = StoreFactory(store_name="鴨川シーフード")
    coupon = CouponFactory(inquiry_number="CB0000000042")
    MovementFactory(coupon=coupon, kind="issue", amount_yen=3000, occurred_at=jst(2023, 2, 23, 10))
    MovementFactory(
        coupon=coupon, kind="payment", amount_yen=-1000, store=store, occurred_at=jst(2023, 2, 26, 23, 59, 59)
    )
    MovementFactory(coupon=coupon, kind="payment", amount_yen=-500, store=store, occurred_at=jst(2023, 2, 27))
    login_verified(client, staff["agent"])

    # When the call-center agent opens it (typing the number in full-width with a hyphen)
    response = client.get(reverse("admin:coupons_coupon_change", args=["ＣＢ-0000000042"]))

    # Then the timeline is in JST with running balances, and the cut-off balances are right
    assert response.status_code == 200
    html = response.content.decode()
    assert "2023/02/26 23:59:59" in html  # 14:59:59 UTC shown as Japan time
    assert "鴨川シーフード" in html
    balances = {item["label"]: item["balance_yen"] for item in response.context["balances"]}
    assert balances["1-2 判定時点"] == 3000
    assert balances["1-1 判定時点"] == 2000  # the payment at exactly 0:00 is not before it
    assert balances["最終残高の時点"] == 1500
    assert [row["balance_yen"] for row in response.context["timeline"]] == [1500, 2000, 3000]  # newest first


def test_the_ledger_is_read_only_in_the_admin(client, staff) -> None:
    movement = MovementFactory(kind="issue", amount_yen=1000)
    login_verified(client, staff["operations"])

    add = client.get(reverse("admin:coupons_couponmovement_add"))
    delete = client.post(reverse("admin:coupons_couponmovement_delete", args=[movement.pk]), {"post": "yes"})

    assert add.status_code == 403
    assert delete.status_code == 403
    assert CouponMovement.objects.filter(pk=movement.pk, amount_yen=1000).exists()


def test_call_center_staff_cannot_upload_platform_files(client, staff) -> None:
    login_verified(client, staff["agent"])

    response = client.post(
        reverse("admin:coupons_importrun_add"),
        {"files": SimpleUploadedFile("stores.csv", b"store_id,store_name,prefecture_code\nS1,A,12\n")},
    )

    assert response.status_code == 403
    assert not ImportRun.objects.exists()
    assert not Store.objects.exists()


def test_operations_upload_runs_the_import_and_shows_the_summary(
    client, staff, django_capture_on_commit_callbacks
):
    login_verified(client, staff["operations"])
    upload = SimpleUploadedFile(
        "stores.csv", "store_id,store_name,prefecture_code\nS1,館山海鮮市場,12\n".encode("cp932")
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:coupons_importrun_add"), {"files": [upload], "encoding": "cp932"}
        )

    run = ImportRun.objects.get()
    assert response.status_code == 302
    assert run.status == ImportRun.Status.SUCCEEDED
    assert Store.objects.get().store_name == "館山海鮮市場"
    page = client.get(reverse("admin:coupons_importrun_change", args=[run.pk])).content.decode()
    assert "stores.csv" in page
    assert "結果" in page


def test_a_refused_upload_shows_the_line_and_column_and_imports_nothing(
    client, staff, django_capture_on_commit_callbacks
) -> None:
    login_verified(client, staff["operations"])
    upload = SimpleUploadedFile("stores.csv", b"store_id,store_name,prefecture_code\nS1,A,12\nS2,B,99\n")

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:coupons_importrun_add"), {"files": [upload], "encoding": "utf-8"})

    run = ImportRun.objects.get()
    assert run.status == ImportRun.Status.FAILED
    assert run.errors[0]["line"] == 3
    assert run.errors[0]["column"] == "prefecture_code"
    assert not Store.objects.exists()
    page = client.get(reverse("admin:coupons_importrun_change", args=[run.pk])).content.decode()
    assert "3行目" in page


def test_one_good_and_one_broken_file_read_as_a_partial_import_not_a_failure(
    client, staff, django_capture_on_commit_callbacks
) -> None:
    login_verified(client, staff["operations"])
    good = SimpleUploadedFile("stores_a.csv", b"store_id,store_name,prefecture_code\nS1,A,12\n")
    broken = SimpleUploadedFile("stores_b.csv", b"store_id,store_name,prefecture_code\nS2,B,99\n")

    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("admin:coupons_importrun_add"), {"files": [good, broken], "encoding": "utf-8"})

    run = ImportRun.objects.get()
    assert list(Store.objects.values_list("store_id", flat=True)) == ["S1"]
    page = client.get(reverse("admin:coupons_importrun_change", args=[run.pk])).content.decode()
    listing = client.get(reverse("admin:coupons_importrun_changelist")).content.decode()
    for html in (page, listing):
        assert "一部のみ取り込み（1 ファイル取り込み済み、1 ファイルは取り込みなし）" in html
        assert "失敗（変更なし）" not in html
        assert "取り込みなし）" in html


def test_setup_demo_is_refused_without_debug(settings) -> None:
    from django.core.management.base import CommandError

    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG only"):
        call_command("setup_demo")
    assert not get_user_model().objects.exists()  # no account with a known password


def test_an_import_that_breaks_unexpectedly_is_marked_failed_not_left_running(monkeypatch, tmp_path) -> None:
    from coupons.services import import_runs

    path = tmp_path / "stores.csv"
    path.write_text("store_id,store_name,prefecture_code\nS1,A,12\n")
    run = ImportRun.objects.create(
        created_at=jst(2023, 3, 1), files=[{"name": "stores.csv", "path": str(path)}], encoding="utf-8"
    )

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(import_runs, "regionpay_import", broken)
    with pytest.raises(RuntimeError):
        import_runs.import_run_execute(run_id=run.pk)

    run.refresh_from_db()
    assert run.status == ImportRun.Status.FAILED
    assert run.errors[0]["message"] == "RuntimeError: disk full"
    assert not Store.objects.exists()


def test_the_ledger_list_costs_the_same_queries_for_many_rows_as_for_one(
    client, staff, django_assert_max_num_queries
) -> None:
    store = StoreFactory()
    MovementFactory(kind="payment", amount_yen=-100, store=store)
    login_verified(client, staff["operations"])
    url = reverse("admin:coupons_couponmovement_changelist")
    with django_assert_max_num_queries(20) as one:
        client.get(url)
    for _ in range(30):
        MovementFactory(kind="payment", amount_yen=-100, store=store)

    with django_assert_max_num_queries(len(one.captured_queries)):
        page = client.get(url)

    assert page.status_code == 200


def test_coupon_page_answers_whether_the_traveller_is_owed_with_links(client, staff) -> None:
    from claims.models import Entitlement, Incident
    from tests.claims.conftest import INCIDENT_CODE, create_incident

    # Given a 1-1 coupon extended by the engine, with an app phone number
    if not Incident.objects.filter(code=INCIDENT_CODE).exists():
        create_incident()
    incident = Incident.objects.get(code=INCIDENT_CODE)
    coupon = CouponFactory(
        inquiry_number="CB0000000077", app_phone="+819012345678", issued_at=jst(2023, 2, 26, 9)
    )
    MovementFactory(coupon=coupon, kind="issue", amount_yen=3000, occurred_at=jst(2023, 2, 26, 9))
    entitlement = Entitlement.objects.create(
        incident=incident,
        coupon=coupon,
        category="1-1",
        route="app",
        status="extended",
        amount_yen=3000,
        cutoff_at=incident.group_1_1_cutoff_at,
        valid_until=incident.extension_valid_until,
        found_at=jst(2023, 2, 27, 1),
    )
    login_verified(client, staff["agent"])

    # When the agent opens the coupon
    response = client.get(reverse("admin:coupons_coupon_change", args=[coupon.pk]))

    # Then its entitlement, the extension and a link are there; the phone reads as in Japan
    html = response.content.decode()
    assert reverse("admin:claims_entitlement_change", args=[entitlement.pk]) in html
    assert "有効期限を 2023/03/31 23:59 まで延長" in html
    assert "090-1234-5678" in html
    assert "+8190" not in html
    assert "/history/" not in html  # no 履歴 button to an empty page
    # balance cards in time order; before the coupon was issued (2/26 9:00) there is no balance
    balances = response.context["balances"]
    assert [b["at"] for b in balances] == sorted(b["at"] for b in balances)
    before = [b["label"] for b in balances if b["before_issue"]]
    assert before == ["1-2 判定時点"]
    assert "発行前" in html


def test_a_long_ledger_is_paged_newest_first_with_running_balances(client, staff) -> None:
    coupon = CouponFactory(inquiry_number="CB0000000088")
    MovementFactory(coupon=coupon, kind="issue", amount_yen=100_000, occurred_at=jst(2023, 2, 1))
    store = StoreFactory()
    for i in range(130):
        MovementFactory(
            coupon=coupon,
            kind="payment",
            amount_yen=-100,
            store=store,
            occurred_at=jst(2023, 2, 2, i // 60, i % 60),
        )
    login_verified(client, staff["agent"])

    first = client.get(reverse("admin:coupons_coupon_change", args=[coupon.pk]))
    last = client.get(reverse("admin:coupons_coupon_change", args=[coupon.pk]), {"page": 2})

    rows = first.context["timeline"]
    assert len(rows) == 100
    assert rows[0]["movement"].occurred_at == jst(2023, 2, 2, 2, 9)  # the newest first
    assert rows[0]["balance_yen"] == 100_000 - 130 * 100
    older = last.context["timeline"]
    assert len(older) == 31
    assert older[-1]["movement"].kind == "issue"
    assert older[-1]["balance_yen"] == 100_000


def test_coupon_search_opens_a_single_match_and_helps_when_nothing_matches(client, staff) -> None:
    CouponFactory(inquiry_number="CB0000000099")
    login_verified(client, staff["agent"])
    url = reverse("admin:coupons_coupon_changelist")

    empty = client.get(url)
    found = client.get(url, {"q": "ｃｂ-0000-000099"})
    misread = client.get(url, {"q": "CBOOOOOOOO99"})
    partial = client.get(url, {"q": "CB00000"})

    assert 'id="searchbar" autofocus' in empty.content.decode()
    assert "お問合せ番号を入力" in empty.content.decode()
    assert found.status_code == 302
    assert found["Location"] == reverse("admin:coupons_coupon_change", args=["CB0000000099"])
    assert "CB0000000099" in misread.content.decode()
    assert "読み違えていませんか" in misread.content.decode()
    assert "番号の始まりが同じクーポン" in partial.content.decode()
