"""public-api.md §1-§4 through HTTP (Django's test client): every status code of the contract,
with the exact fields and values, and nothing created or sent when an answer is a refusal."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from claims.models import Application, ApplicationStatusChange
from claims.services import applications as svc
from notifications.models import Message
from tests.claims.applications.conftest import application_body, sent_code
from tests.factories import jst

pytestmark = pytest.mark.django_db


@pytest.fixture
def api() -> Client:
    return Client()


def post(client: Client, path: str, body: Any = None, *, key: str | None = None, lang: str | None = None):
    headers = {}
    if key is not None:
        headers["Idempotency-Key"] = key
    if lang is not None:
        headers["Accept-Language"] = lang
    return client.post(
        path,
        data=json.dumps(body) if body is not None else "",
        content_type="application/json",
        headers=headers,
    )


def check(client: Client, inquiry: str, expires_on: str = "2023-02-24", **kw: Any):
    return post(client, "/api/v1/coupon-checks", {"inquiry_number": inquiry, "expires_on": expires_on}, **kw)


# --- §1 coupon checks -------------------------------------------------------------------------------


def test_coupon_check_apply_gives_groups_amount_and_a_japanese_message(
    api, portal_clock, paper_coupon
) -> None:
    response = check(api, paper_coupon.inquiry_number)
    assert response.status_code == 200
    body = response.json()
    assert body["outcome"] == "apply"
    assert body["groups"] == ["1-1"]
    assert body["amount_yen"] == 2500
    assert "申請" in body["message"]
    assert set(body) == {"outcome", "message", "groups", "amount_yen"}


def test_coupon_check_accepts_full_width_hyphenated_number_and_slashed_date(
    api, portal_clock, paper_coupon
) -> None:
    number = paper_coupon.inquiry_number  # CB0000000123
    typed = number[:2].lower() + "－" + "".join(chr(ord(c) + 0xFEE0) for c in number[2:])
    response = check(api, typed, "２０２３/０２/２４")
    assert response.json()["outcome"] == "apply"


def test_coupon_check_message_is_english_with_accept_language_en(api, portal_clock, paper_coupon) -> None:
    response = check(api, paper_coupon.inquiry_number, lang="en")
    assert response.json()["message"].startswith("This coupon is covered")


@pytest.mark.parametrize(
    ("groups", "outcome", "amount"),
    [
        ([("1-1", "app", "extended")], "no_application_needed", 2500),
        ([("1-2", "callcenter", "found")], "call_center", 2500),
        ([("2-2", "callcenter", "found")], "call_center", None),
        ([("1-1", "application", "rejected")], "not_covered", None),
        ([], "not_covered", None),
    ],
)
def test_coupon_check_outcome_follows_the_entitlements(
    api, portal_clock, entitled_coupon, groups, outcome, amount
) -> None:
    coupon = entitled_coupon(*groups)
    body = check(api, coupon.inquiry_number).json()
    assert (body["outcome"], body["amount_yen"]) == (outcome, amount)
    assert body["groups"] == [g[0] for g in groups if g[2] != "rejected"]


def test_coupon_check_not_found_for_unknown_number_or_other_expiry(api, portal_clock, paper_coupon) -> None:
    assert check(api, "ZZ9999999999").json()["outcome"] == "not_found"
    assert check(api, paper_coupon.inquiry_number, "2023-02-25").json()["outcome"] == "not_found"


@pytest.mark.parametrize(
    ("instant", "outcome"),
    [
        (jst(2023, 3, 21, 23, 59), "window_not_open"),
        (jst(2023, 3, 22, 0, 0), "apply"),
        (jst(2023, 4, 30, 23, 59), "apply"),
        (jst(2023, 5, 1, 0, 0), "window_closed"),
    ],
)
def test_coupon_check_window_on_the_portal_clock(api, portal_clock, paper_coupon, instant, outcome) -> None:
    portal_clock.set(instant)
    assert check(api, paper_coupon.inquiry_number).json()["outcome"] == outcome


def test_coupon_check_already_applied_once_an_application_is_submitted(
    api, portal_clock, paper_coupon
) -> None:
    application = _apply(api, paper_coupon, key="k-already-1")
    assert check(api, paper_coupon.inquiry_number).json()["outcome"] == "apply"  # not verified yet
    assert _verify(api, application, sent_code(application)).status_code == 200
    assert check(api, paper_coupon.inquiry_number).json()["outcome"] == "already_applied"


def test_coupon_check_malformed_input_is_400_naming_fields(api, portal_clock) -> None:
    response = check(api, "千葉!", "2023-13-45")
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"inquiry_number", "expires_on"}


def test_coupon_checks_limited_to_60_a_minute_per_address(api, portal_clock, paper_coupon) -> None:
    # The limiter counts in fixed one-minute windows of real time: 60 checks that happen to straddle
    # a window's end are rightly all allowed. A fresh address (a fresh window) is tried once more then.
    for address in ("192.0.2.10", "192.0.2.11"):
        client = Client(REMOTE_ADDR=address)
        for _ in range(60):
            assert check(client, paper_coupon.inquiry_number).status_code == 200
        response = check(client, paper_coupon.inquiry_number)
        if response.status_code == 429:
            break
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert "message" in response.json()
    other = Client(REMOTE_ADDR="192.0.2.7")
    assert check(other, paper_coupon.inquiry_number).status_code == 200


# --- §2 applications --------------------------------------------------------------------------------


def test_application_created_with_code_queued_to_the_phone(api, portal_clock, paper_coupon) -> None:
    response = post(api, "/api/v1/applications", application_body(paper_coupon), key="key-0001")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "awaiting_verification"
    assert body["code_sent_to"] == "090-****-5678"
    application = Application.objects.get(public_id=body["application_id"])
    assert str(application.phone) == "+819012345678"
    assert application.status == "awaiting_verification"
    message = Message.objects.get(reference=body["application_id"])
    assert (message.channel, message.to, message.template) == ("sms", "+819012345678", "verification_code")
    assert len(sent_code(application)) == 6
    assert application.code_hash
    assert sent_code(application) not in application.code_hash
    assert list(application.status_changes.values_list("to_status", flat=True)) == ["awaiting_verification"]


def test_application_by_email_and_e164_phone_accepted(api, portal_clock, entitled_coupon) -> None:
    first, second = (entitled_coupon(("1-1", "application", "extended")) for _ in range(2))
    email = post(
        api,
        "/api/v1/applications",
        application_body(first, contact={"email": "Hanako@Example.JP"}),
        key="key-mail-1",
    )
    assert email.status_code == 201
    assert email.json()["code_sent_to"] == "H***@example.jp"
    assert Message.objects.get(reference=email.json()["application_id"]).channel == "email"
    e164 = post(
        api,
        "/api/v1/applications",
        application_body(second, contact={"phone": "+81 80 1111 2222"}),
        key="key-e164-1",
    )
    assert e164.status_code == 201
    assert e164.json()["code_sent_to"] == "080-****-2222"


def test_same_key_same_body_replays_the_first_answer_and_creates_nothing(
    api, portal_clock, paper_coupon
) -> None:
    body = application_body(paper_coupon)
    first = post(api, "/api/v1/applications", body, key="retry-after-timeout")
    reordered = json.loads(json.dumps(body))  # same content, rebuilt
    again = post(
        api, "/api/v1/applications", dict(reversed(list(reordered.items()))), key="retry-after-timeout"
    )
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.content == first.content
    assert Application.objects.count() == 1
    assert Message.objects.count() == 1


def test_same_key_other_body_is_409_and_nothing_changes(api, portal_clock, paper_coupon) -> None:
    post(api, "/api/v1/applications", application_body(paper_coupon), key="reused-key-1")
    response = post(
        api, "/api/v1/applications", application_body(paper_coupon, name="千葉 太郎"), key="reused-key-1"
    )
    assert response.status_code == 409
    assert "message" in response.json()
    assert Application.objects.get().name == "千葉 花子"
    assert Message.objects.count() == 1


@pytest.mark.parametrize("key", [None, "short", "x" * 256])
def test_idempotency_key_required_8_to_255(api, portal_clock, paper_coupon, key) -> None:
    response = post(api, "/api/v1/applications", application_body(paper_coupon), key=key)
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["Idempotency-Key"]
    assert not Application.objects.exists()


def test_landline_refused_for_sms_naming_contact_phone(api, portal_clock, paper_coupon) -> None:
    response = post(
        api,
        "/api/v1/applications",
        application_body(paper_coupon, contact={"phone": "03-1234-5678"}),
        key="landline-1",
    )
    assert response.status_code == 400
    assert "携帯" in response.json()["errors"]["contact.phone"][0]
    assert not Application.objects.exists()
    assert not Message.objects.exists()


def test_every_wrong_field_is_named_in_japanese(api, portal_clock, paper_coupon) -> None:
    body = application_body(
        paper_coupon,
        name="",
        name_kana="Chiba",
        prefecture_code="99",
        travel_date="2023-02-30",
        contact={},
        payout={"method": "cash"},
    )
    response = post(api, "/api/v1/applications", body, key="many-wrong-1")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"name", "name_kana", "prefecture_code", "travel_date", "contact", "payout.method"}
    assert all(isinstance(m, str) and m for messages in errors.values() for m in messages)
    english = post(api, "/api/v1/applications", body, key="many-wrong-2", lang="en").json()["errors"]
    assert english["name"] == ["Enter your full name."]


def test_coupon_not_applicable_is_422_with_outcome(api, portal_clock, entitled_coupon) -> None:
    app_user = entitled_coupon(("1-1", "app", "extended"))
    response = post(api, "/api/v1/applications", application_body(app_user), key="app-user-points")
    assert response.status_code == 422
    assert response.json()["outcome"] == "no_application_needed"
    assert response.json()["message"]
    unknown = application_body(app_user, inquiry_number="ZZ0000000001")
    assert post(api, "/api/v1/applications", unknown, key="unknown-coupon").json()["outcome"] == "not_found"
    assert not Application.objects.exists()


def test_application_outside_the_window_is_422(api, portal_clock, paper_coupon) -> None:
    portal_clock.set(jst(2023, 5, 1, 9))
    response = post(api, "/api/v1/applications", application_body(paper_coupon), key="late-application")
    assert (response.status_code, response.json()["outcome"]) == (422, "window_closed")


def test_applications_limited_to_30_an_hour_per_address(api, portal_clock, paper_coupon) -> None:
    for n in range(30):
        post(api, "/api/v1/applications", application_body(paper_coupon), key=f"limit-key-{n:02d}")
    response = post(api, "/api/v1/applications", application_body(paper_coupon), key="limit-key-30")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 3600
    assert Application.objects.count() == 30


# --- §3 verification --------------------------------------------------------------------------------


def _apply(api: Client, coupon, key: str = "verify-key-1", **changes: Any) -> Application:
    response = post(api, "/api/v1/applications", application_body(coupon, **changes), key=key)
    assert response.status_code == 201, response.json()
    return Application.objects.get(public_id=response.json()["application_id"])


def _verify(api: Client, application: Application, code: str):
    return post(api, f"/api/v1/applications/{application.public_id}/verification", {"code": code})


def test_right_code_submits_with_a_readable_reference_and_a_confirmation(
    api, portal_clock, paper_coupon
) -> None:
    application = _apply(api, paper_coupon)
    code = sent_code(application)
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in code)
    response = _verify(api, application, full_width)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "submitted"
    reference = body["reference_number"]
    assert len(reference.replace("-", "")) == 10
    assert not set(reference) & set("0O1IL")
    application.refresh_from_db()
    assert application.status == "submitted"
    confirmation = Message.objects.get(template="application_confirmation")
    assert confirmation.reference == reference
    assert reference in confirmation.body
    assert confirmation.to == "+819012345678"
    assert [c.to_status for c in ApplicationStatusChange.objects.filter(application=application)] == [
        "awaiting_verification",
        "submitted",
    ]
    # pressing the button again: the same answer, nothing sent twice
    assert _verify(api, application, code).json()["reference_number"] == reference
    assert Message.objects.filter(template="application_confirmation").count() == 1
    # and a resend after submission is refused without sending anything
    resend = post(api, f"/api/v1/applications/{application.public_id}/verification/resend")
    assert (resend.status_code, resend.json()["outcome"]) == (409, "already_applied")
    assert Message.objects.count() == 2


def test_wrong_codes_count_down_and_the_fifth_voids(api, portal_clock, paper_coupon) -> None:
    application = _apply(api, paper_coupon)
    wrong = "000000" if sent_code(application) != "000000" else "111111"
    for left in (4, 3, 2, 1):
        response = _verify(api, application, wrong)
        assert response.status_code == 400
        assert response.json()["attempts_left"] == left
        assert list(response.json()["errors"]) == ["code"]
    response = _verify(api, application, wrong)
    assert response.status_code == 410
    application.refresh_from_db()
    assert application.status == "void"
    # the right code no longer helps
    assert _verify(api, application, sent_code(application)).status_code == 410


def test_code_after_30_minutes_voids(api, portal_clock, paper_coupon) -> None:
    application = _apply(api, paper_coupon)
    portal_clock.move(minutes=30)
    assert _verify(api, application, "12345x").status_code == 400  # malformed: not counted
    portal_clock.move(seconds=1)
    assert _verify(api, application, sent_code(application)).status_code == 410
    application.refresh_from_db()
    assert (application.status, application.reference_number) == ("void", None)


def test_resend_at_most_once_a_minute_and_the_old_code_stops(api, portal_clock, paper_coupon) -> None:
    application = _apply(api, paper_coupon)
    old = sent_code(application)
    resend = f"/api/v1/applications/{application.public_id}/verification/resend"
    portal_clock.move(seconds=30)
    too_soon = post(api, resend)
    assert too_soon.status_code == 429
    assert too_soon["Retry-After"] == "30"
    assert Message.objects.count() == 1
    portal_clock.move(seconds=30)
    again = post(api, resend)
    assert again.status_code == 202
    assert again.json()["code_sent_to"] == "090-****-5678"
    new = sent_code(application)
    assert Message.objects.filter(template="verification_code").count() == 2
    if new != old:
        assert _verify(api, application, old).status_code == 400
    assert _verify(api, application, new).status_code == 200


def test_unknown_application_is_404(api, portal_clock) -> None:
    assert post(api, "/api/v1/applications/not-a-uuid/verification", {"code": "123456"}).status_code == 404
    assert (
        post(api, "/api/v1/applications/8b0b7c0e-0000-4000-8000-000000000000/verification/resend").status_code
        == 404
    )


def test_second_application_of_a_submitted_coupon_cannot_be_submitted(
    api, portal_clock, paper_coupon
) -> None:
    first = _apply(api, paper_coupon, key="double-a")
    second = _apply(api, paper_coupon, key="double-b")
    assert _verify(api, first, sent_code(first)).status_code == 200
    response = _verify(api, second, sent_code(second))
    assert (response.status_code, response.json()["outcome"]) == (409, "already_applied")
    second.refresh_from_db()
    assert second.status == "awaiting_verification"
    assert Application.objects.filter(status="submitted").count() == 1


# --- §4 status lookups --------------------------------------------------------------------------------


def _submitted(api: Client, coupon, **changes: Any) -> str:
    application = _apply(api, coupon, key=f"lookup-{coupon.inquiry_number}", **changes)
    return _verify(api, application, sent_code(application)).json()["reference_number"]


def lookup(api: Client, reference: Any, contact: Any, **kw: Any):
    return post(api, "/api/v1/status-lookups", {"reference_number": reference, "contact": contact}, **kw)


def test_status_lookup_matches_the_contact_in_any_shape(api, portal_clock, paper_coupon) -> None:
    reference = _submitted(api, paper_coupon)
    for contact in ("090-1234-5678", "09012345678", "+819012345678", "＋８１ ９０ １２３４ ５６７８"):
        response = lookup(api, reference.lower().replace("-", " "), contact)
        assert response.status_code == 200, contact
        body = response.json()
        assert body["status"] == "submitted"
        assert body["label"]
        assert set(body["next"]) == {"date", "what"}
        assert body["next"]["date"] == "2023-05-31"
        dt.date.fromisoformat(body["next"]["date"])


def test_every_failed_lookup_is_the_same_404_bytes(api, portal_clock, paper_coupon) -> None:
    reference = _submitted(api, paper_coupon)
    other = reference[:-1] + ("2" if reference[-1] != "2" else "3")
    failures = [
        lookup(api, reference, "090-9999-9999"),  # wrong contact
        lookup(api, other, "090-1234-5678"),  # unknown reference (bad check character)
        lookup(api, "ABCD-EFGH-JK", "090-1234-5678"),  # well-formed, unknown
        lookup(api, "", ""),  # malformed
        lookup(api, 12, None),  # wrong types
        lookup(api, {"a": 1}, ["090-1234-5678"]),
        post(api, "/api/v1/status-lookups", ["not", "an", "object"]),
    ]
    assert {r.status_code for r in failures} == {404}
    assert len({r.content for r in failures}) == 1
    assert len({tuple(sorted((k, v) for k, v in r.items() if k != "Date")) for r in failures}) == 1


def test_lookup_failures_limited_per_reference_and_per_address(api, portal_clock, paper_coupon) -> None:
    reference = _submitted(api, paper_coupon)
    for _ in range(10):
        assert lookup(api, reference, "090-0000-0000").status_code == 404
    blocked = lookup(api, reference, "090-1234-5678")  # even the right contact, from anywhere
    assert blocked.status_code == 429
    assert int(blocked["Retry-After"]) >= 1
    assert lookup(Client(REMOTE_ADDR="192.0.2.9"), reference, "090-1234-5678").status_code == 429
    # per address: 30 an hour whatever the reference
    elsewhere = Client(REMOTE_ADDR="198.51.100.4")
    for n in range(30):
        assert lookup(elsewhere, f"ABCD-EFGH-{n:02d}", "x").status_code == 404
    assert lookup(elsewhere, "ABCD-EFGH-JK", "x").status_code == 429


def test_api_schema_and_docs_are_served(api) -> None:
    schema = api.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    for path in ("/api/v1/coupon-checks", "/api/v1/applications", "/api/v1/status-lookups"):
        assert path in text
    docs = api.get("/api/docs/")
    assert docs.status_code == 200
    # Swagger UI comes from our own static files (drf-spectacular-sidecar), never a CDN.
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/" in docs.content.decode()
    assert "http" not in docs["Content-Security-Policy"]


def test_failed_lookups_take_the_same_time_whatever_failed(api, portal_clock, paper_coupon) -> None:
    """Unknown reference vs right reference with a wrong contact: interleaved, medians compared."""
    import statistics
    import time

    reference = _submitted(api, paper_coupon)
    unknown = svc.reference_number_display(svc.reference_number_new())
    cases = {"wrong contact": (reference, "090-9999-9999"), "unknown reference": (unknown, "090-1234-5678")}
    timings: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(300):
        for name, (ref, contact) in cases.items():
            started = time.perf_counter()
            assert svc.application_status_lookup(reference_number=ref, contact=contact) is None
            timings[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) for name, values in timings.items()}
    slower, faster = max(medians.values()), min(medians.values())
    assert slower - faster < max(0.15 * faster, 0.0002), medians


def test_failed_lookups_do_the_same_work_whatever_failed(
    api, portal_clock, paper_coupon, monkeypatch
) -> None:
    """The timing above holds by construction: a wrong contact for a known reference parses no
    more phone numbers than an unknown reference (the stored phone is read as text, not parsed
    again by its model field), so neither path has work the other lacks."""
    import phonenumbers

    reference = _submitted(api, paper_coupon)
    unknown = svc.reference_number_display(svc.reference_number_new())
    real_parse = phonenumbers.parse
    parses: list[object] = []

    def counting_parse(*args: Any, **kwargs: Any) -> Any:
        parses.append(args or kwargs)
        return real_parse(*args, **kwargs)

    monkeypatch.setattr(phonenumbers, "parse", counting_parse)
    counts = {}
    for name, ref in {"wrong contact": reference, "unknown reference": unknown}.items():
        parses.clear()
        assert svc.application_status_lookup(reference_number=ref, contact="090-9999-9999") is None
        counts[name] = len(parses)
    assert counts["wrong contact"] == counts["unknown reference"] == 1, counts


def test_the_apply_pages_coupon_step_shares_the_apis_allowance(api, portal_clock, paper_coupon) -> None:
    """The page's coupon check is the same check as the API's: one allowance per address for both,
    so the page cannot be used to try coupon numbers faster than the API allows."""
    import re

    for address in ("192.0.2.20", "192.0.2.21"):
        client = Client(REMOTE_ADDR=address)
        for _ in range(60):
            assert check(client, paper_coupon.inquiry_number).status_code == 200
        page = client.get("/apply/coupon/").content.decode()
        step_field = re.search(r'name="([^"]+-current_step)"', page).group(1)
        response = client.post(
            "/apply/coupon/",
            {
                step_field: "coupon",
                "coupon-inquiry_number": paper_coupon.inquiry_number,
                "coupon-expires_on": "2023-02-24",
            },
        )
        if response.status_code == 429:
            break
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    html = response.content.decode()
    assert "確認を一時的に止めています" in html
    assert paper_coupon.inquiry_number in html  # what was typed is kept
    # nothing was checked: the wizard holds no answer for this coupon
    assert "outcome" not in str(client.session.get("wizard_application_wizard", {}).get("extra_data", {}))
