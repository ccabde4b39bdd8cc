"""Every route of the application on a phone (390x844), in Japanese and English, as a traveller
walks it: the coupon check's answers, the pages, the code read from the outbox (file backend),
the confirmation and the status lookup. axe-core checks each page (Phone.shot)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings

from claims.models import Application, BankAccount
from tests.factories import CouponFactory, jst

pytestmark = pytest.mark.django_db(transaction=True)

INSIDE_WINDOW = jst(2023, 4, 10, 10)
NEXT = "main form button[type=submit]:not([name])"


@pytest.fixture
def clock(monkeypatch):
    class Clock:
        def set(self, at) -> None:
            monkeypatch.setenv("PORTAL_NOW", at.isoformat())

    clock = Clock()
    clock.set(INSIDE_WINDOW)
    return clock


def says(phone, ja: str, en: str) -> None:
    text = phone.text()
    expected = ja if phone.lang == "ja" else en
    assert expected in text, f"{expected!r} not on {phone.page.url}:\n{text[:1500]}"


def outbox_code(to_digits: str) -> str:
    """The newest six-digit code sent to this contact, read from the outbox's files."""
    for path in sorted(Path(settings.NOTIFY_OUTBOX_DIR).glob("*.json"), reverse=True):
        message = json.loads(path.read_text())
        if to_digits in re.sub(r"\D", "", message["to"]) or to_digits == message["to"]:
            match = re.search(r"\b(\d{6})\b", message["body"])
            if match:
                return match[1]
    raise AssertionError(f"no code in the outbox for {to_digits}")


def start(phone, coupon, name: str = "coupon") -> None:
    phone.visit("/apply/")
    phone.shot(f"{name}-start")
    phone.page.fill('[name="coupon-inquiry_number"]', coupon.inquiry_number)
    phone.page.fill('[name="coupon-expires_on"]', "２０２３/２/２４")  # full-width, as people type
    phone.page.click(NEXT)


def answer_person(phone, *, email: str | None = None, mobile: str = "090-1234-5678") -> None:
    phone.page.fill('[name="name-name"]', "千葉 花子")
    phone.page.fill('[name="name-name_kana"]', "ちば はなこ")
    phone.shot("name")
    phone.page.click(NEXT)
    if email:
        phone.page.check('[name="contact-channel"][value="email"]')
        phone.page.fill('[name="contact-email"]', email)
    else:
        phone.page.check('[name="contact-channel"][value="sms"]')
        phone.page.fill('[name="contact-phone"]', mobile)
    phone.shot("contact")
    phone.page.click(NEXT)
    phone.page.select_option('[name="trip-prefecture_code"]', "12")
    phone.page.fill('[name="trip-travel_date"]', "2023年2月23日")
    phone.shot("trip")
    phone.page.click(NEXT)


def enter_code(phone, to_digits: str) -> None:
    says(phone, "確認コードの入力", "Enter the code")
    phone.shot("code")
    phone.page.fill('[name="code"]', outbox_code(to_digits))
    phone.page.click('form[action$="/apply/code/"] button')


def reference_on_page(phone) -> str:
    return phone.page.inner_text(".reference").strip()


def apply_with_points(phone, coupon, *, change: bool = False) -> None:
    start(phone, coupon)
    says(phone, "補償の対象です", "This coupon is covered")
    phone.shot("result-apply")
    phone.page.click(NEXT)
    answer_person(phone)
    phone.page.check('[name="payout-method"][value="points"]')
    phone.shot("payout")
    phone.page.click(NEXT)
    says(phone, "申請内容の確認", "Check your answers")
    phone.shot("confirm")
    if change:  # change an answer from the check page: back to the check page after it
        phone.page.click('a[href$="/apply/name/?change=1"]')
        phone.page.fill('[name="name-name"]', "千葉 花")
        phone.page.click(NEXT)
        assert phone.page.url.endswith("/apply/confirm/")
        says(phone, "千葉 花", "千葉 花")


def test_eligible_with_points_then_look_it_up(phone, clock, entitled_coupon):
    coupon = entitled_coupon(("1-1", "application", "extended"), amount_yen=2500)
    apply_with_points(phone, coupon, change=True)
    phone.page.click(NEXT)
    enter_code(phone, "9012345678")
    says(phone, "申請を受け付けました", "We have received your application")
    phone.shot("complete")
    reference = reference_on_page(phone)
    application = Application.objects.get()
    assert application.status == "submitted"
    assert application.name == "千葉 花"
    assert application.payout_method == "points"
    assert re.sub(r"\W", "", reference) == application.reference_number

    phone.visit("/status/")
    phone.shot("status")
    phone.page.fill('[name="reference_number"]', reference.lower())
    phone.page.fill('[name="contact"]', "+81 90 1234 5678")
    phone.page.click(NEXT)
    says(phone, "受付済み（ポイント）", "Received (gift points)")
    phone.shot("status-found")

    phone.visit("/status/")
    phone.page.fill('[name="reference_number"]', reference)
    phone.page.fill('[name="contact"]', "090-9999-9999")
    phone.page.click(NEXT)
    says(phone, "一致する申請が見つかりませんでした", "No application matches")
    phone.shot("status-not-found")


def test_eligible_with_a_bank_account_and_with_japan_post(phone, clock, entitled_coupon):
    coupon = entitled_coupon(("1-1", "application", "extended"), amount_yen=1800)
    start(phone, coupon)
    phone.page.click(NEXT)
    answer_person(phone, email="hanako@example.jp")
    phone.page.check('[name="payout-method"][value="bank"]')
    phone.page.click(NEXT)
    phone.shot("bank-search")
    phone.page.fill('[name="bank-query"]', "みずほ")
    phone.page.click('button[name="action"][value="search"]')
    phone.shot("bank-matches")
    phone.page.check('[name="bank-code"][value="0001"]')
    phone.page.click(NEXT)
    phone.page.fill('[name="branch-query"]', "001")
    phone.page.click('button[name="action"][value="search"]')
    phone.shot("branch-matches")
    phone.page.check('[name="branch-code"][value="001"]')
    phone.page.click(NEXT)
    phone.page.check('[name="account-account_type"][value="ordinary"]')
    phone.page.fill('[name="account-account_number"]', "１２３４５６７")
    phone.page.fill('[name="account-holder_kana"]', "千葉花子")  # kanji: refused with a sentence
    phone.page.click(NEXT)
    phone.shot("account-error")
    assert phone.page.locator(".error-summary a[href='#id_account-holder_kana']").count() == 1
    phone.page.fill('[name="account-holder_kana"]', "ちば はなこ")
    phone.page.click(NEXT)
    phone.shot("confirm-bank")
    phone.page.click(NEXT)
    enter_code(phone, "hanako@example.jp")
    phone.shot("complete-bank")
    account = BankAccount.objects.get()
    assert (account.bank_code, account.branch_code, account.account_number) == ("0001", "001", "1234567")
    assert account.holder_kana == "ﾁﾊﾞ ﾊﾅｺ"

    coupon = entitled_coupon(("1-1", "application", "extended"))
    start(phone, coupon, name="yucho")
    phone.page.click(NEXT)
    answer_person(phone, mobile="080-2222-3333")
    phone.page.check('[name="payout-method"][value="yucho"]')
    phone.page.click(NEXT)
    phone.page.fill('[name="yucho-yucho_symbol"]', "14030")
    phone.page.fill('[name="yucho-yucho_number"]', "12345671")
    phone.page.fill('[name="yucho-holder_kana"]', "チバ ハナコ")
    phone.shot("yucho")
    phone.page.click(NEXT)
    phone.shot("confirm-yucho")
    phone.page.click(NEXT)
    enter_code(phone, "8022223333")
    phone.shot("complete-yucho")
    account = BankAccount.objects.get(coupon=coupon)
    assert (account.bank_code, account.branch_code, account.account_number) == ("9900", "408", "1234567")


def test_each_answer_of_the_coupon_check_is_a_page(phone, clock, entitled_coupon):
    # errors first: summarised at the top, each linked to its field
    phone.visit("/apply/")
    phone.page.fill('[name="coupon-expires_on"]', "2月24日")
    phone.page.click(NEXT)
    summary = phone.page.locator(".error-summary")
    assert summary.locator("a[href='#id_coupon-inquiry_number']").count() == 1
    assert summary.locator("a[href='#id_coupon-expires_on']").count() == 1
    phone.shot("coupon-errors")

    # the app user: no application, but a bank transfer may be asked instead of points
    start(phone, entitled_coupon(("1-1", "app", "extended")), name="app-user")
    says(phone, "申請は不要です", "No application needed")
    phone.shot("result-app-user")
    phone.page.click(NEXT)
    answer_person(phone)
    assert phone.page.locator('[name="payout-method"][value="points"]').count() == 0
    phone.shot("payout-bank-only")

    # 1-2 and 2-x: call the center
    for category in ("1-2", "2-2"):
        start(phone, entitled_coupon((category, "callcenter", "found")), name=f"call-{category}")
        says(phone, "コールセンターにお電話ください", "Please call the call center")
        assert phone.page.locator(NEXT).count() == 0
        phone.shot(f"result-call-center-{category}")

    start(phone, CouponFactory(), name="not-covered")
    says(phone, "補償の対象ではありません", "not covered")
    phone.shot("result-not-covered")

    phone.visit("/apply/coupon/")
    phone.page.fill('[name="coupon-inquiry_number"]', "ZZ9999999999")
    phone.page.fill('[name="coupon-expires_on"]', "2023/2/24")
    phone.page.click(NEXT)
    says(phone, "クーポンが見つかりません", "We could not find this coupon")
    phone.shot("result-not-found")


def test_outside_the_window_the_wizard_says_so(phone, clock, incident):
    for at, ja, en, name in [
        (jst(2023, 3, 21, 23, 59), "まだ始まっていません", "not open yet", "window-not-open"),
        (jst(2023, 5, 1, 0, 0), "受付は終了しました", "closed", "window-closed"),
    ]:
        clock.set(at)
        phone.visit("/apply/")
        says(phone, ja, en)
        assert phone.page.locator('[name="coupon-inquiry_number"]').count() == 0
        phone.shot(name)


def test_wrong_code_resend_too_soon_expired_code_and_double_submit(phone, clock, entitled_coupon):
    apply_with_points(phone, entitled_coupon(("1-1", "application", "extended")))
    phone.page.click(NEXT, click_count=2)  # double click on "send the code"
    phone.page.wait_for_url("**/apply/code/")
    phone.page.go_back()  # back to the check page, and send again
    if "/apply/confirm/" in phone.page.url:
        phone.page.click(NEXT)
    phone.page.wait_for_url("**/apply/code/")
    assert Application.objects.count() == 1

    right = outbox_code("9012345678")
    phone.page.fill('[name="code"]', "000000" if right != "000000" else "111111")
    phone.page.click('form[action$="/apply/code/"] button')
    says(phone, "あと 4 回", "4 more")
    assert phone.page.locator(".error-summary a[href='#id_code']").count() == 1
    phone.shot("code-wrong")

    phone.page.click('form[action$="/resend/"] button')
    says(phone, "1分に1回", "once a minute")
    phone.shot("code-resend-too-soon")

    clock.set(jst(2023, 4, 10, 10, 31))
    phone.page.fill('[name="code"]', right)
    phone.page.click('form[action$="/apply/code/"] button')
    says(phone, "確認コードが使えなくなりました", "This code can no longer be used")
    phone.shot("code-expired")
    assert Application.objects.get().status == "void"
