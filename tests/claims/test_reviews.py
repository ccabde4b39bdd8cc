"""要確認 holds money: a flagged decision is not paid until a person resolves it, with who and why;
the next run respects the resolution; one by one, in bulk, from the admin, and under concurrency."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from claims.models import Entitlement, EntitlementStatusChange, Incident, ReviewResolution
from claims.services.eligibility import eligibility_run
from claims.services.reviews import ReviewError, entitlement_review_resolve, entitlement_reviews_resolve
from coupons.models import Coupon
from tests.factories import CouponFactory, MovementFactory, StoreFactory, jst
from tests.staff import login_verified
from tests.threads import held_open

ISSUED_AT = jst(2023, 2, 23, 10)
BEFORE_FINAL = jst(2023, 3, 1, 9)
AFTER_FINAL = jst(2023, 4, 10, 9)


def _left_with(balance: int) -> Coupon:
    """A 1-1 coupon (expires 2/24) with ``balance`` left at 2/27 and after."""
    coupon = CouponFactory(expires_on=dt.date(2023, 2, 24))
    MovementFactory(coupon=coupon, kind="issue", amount_yen=balance, occurred_at=ISSUED_AT)
    return coupon


def _late_payment(coupon: Coupon, amount: int) -> None:
    """A payment dated before the 1-1 cut-off, arriving after the decision."""
    MovementFactory(
        coupon=coupon,
        kind="payment",
        amount_yen=-amount,
        occurred_at=jst(2023, 2, 26, 12),
        store=StoreFactory(),
    )


def _flagged(incident: Incident, balance: int = 3000, late: int = 500) -> Entitlement:
    coupon = _left_with(balance)
    eligibility_run(incident=incident, as_of=BEFORE_FINAL)
    _late_payment(coupon, late)
    eligibility_run(incident=incident, as_of=BEFORE_FINAL)
    entitlement = Entitlement.objects.get(coupon=coupon)
    assert (entitlement.needs_review, entitlement.amount_yen, entitlement.review_amount_yen) == (
        True,
        balance,
        balance - late,
    )
    return entitlement


@pytest.fixture
def agent(db) -> User:
    return User.objects.create_user("operations-1", is_staff=True)


@pytest.mark.django_db
def test_a_flagged_decision_is_not_made_payable_until_resolved(incident, agent) -> None:
    # Given a 1-1 decision flagged before the final instant
    flagged = _flagged(incident)

    # When the clock passes the final instant
    eligibility_run(incident=incident, as_of=AFTER_FINAL)

    # Then its money is held: still extended, no final amount
    flagged.refresh_from_db()
    assert (flagged.status, flagged.final_balance_yen, flagged.needs_review) == ("extended", None, True)

    # When a person accepts the new amount, Then the next run makes it payable with the final amount
    entitlement_review_resolve(
        entitlement_id=flagged.pk, outcome="accept", actor=agent, reason="遅延データを確認"
    )
    eligibility_run(incident=incident, as_of=AFTER_FINAL)
    flagged.refresh_from_db()
    assert (flagged.status, flagged.amount_yen, flagged.final_balance_yen, flagged.needs_review) == (
        "payable",
        2500,
        2500,
        False,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("outcome", "amount", "status"),
    [("accept", 2500, "extended"), ("keep", 3000, "extended"), ("reject", 3000, "rejected")],
)
def test_each_resolution_records_who_and_why_and_the_next_run_respects_it(
    incident, agent, outcome, amount, status
) -> None:
    flagged = _flagged(incident)

    entitlement_review_resolve(
        entitlement_id=flagged.pk, outcome=outcome, actor=agent, reason="店舗に確認済み"
    )
    again = eligibility_run(incident=incident, as_of=BEFORE_FINAL + dt.timedelta(days=1))

    flagged.refresh_from_db()
    assert (flagged.amount_yen, flagged.status, flagged.needs_review, flagged.review_note) == (
        amount,
        status,
        False,
        "",
    )
    assert again.flagged_for_review == 0  # the same reading is not flagged again
    resolution = ReviewResolution.objects.get(entitlement=flagged)
    assert (resolution.outcome, resolution.actor, resolution.reason, resolution.seen_amount_yen) == (
        outcome,
        agent,
        "店舗に確認済み",
        2500,
    )
    assert resolution.review_note  # the flag's reason as it was
    if outcome == "reject":
        change = EntitlementStatusChange.objects.filter(entitlement=flagged).last()
        assert (change.to_status, change.actor) == ("rejected", agent)


@pytest.mark.django_db
def test_a_kept_amount_is_flagged_again_when_the_data_moves_further(incident, agent) -> None:
    flagged = _flagged(incident)
    entitlement_review_resolve(entitlement_id=flagged.pk, outcome="keep", actor=agent, reason="一時的な取引")

    _late_payment(flagged.coupon, 100)
    eligibility_run(incident=incident, as_of=BEFORE_FINAL)

    flagged.refresh_from_db()
    assert (flagged.needs_review, flagged.review_amount_yen, flagged.amount_yen) == (True, 2400, 3000)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("outcome", "reason", "message"),
    [("accept", "  ", "理由"), ("approve", "理由あり", "方法")],
)
def test_a_resolution_without_a_reason_or_outcome_is_refused_and_changes_nothing(
    incident, agent, outcome, reason, message
) -> None:
    flagged = _flagged(incident)
    before = Entitlement.objects.filter(pk=flagged.pk).values().get()

    with pytest.raises(ReviewError, match=message):
        entitlement_review_resolve(entitlement_id=flagged.pk, outcome=outcome, actor=agent, reason=reason)

    assert Entitlement.objects.filter(pk=flagged.pk).values().get() == before
    assert not ReviewResolution.objects.exists()


@pytest.mark.django_db
def test_bulk_resolution_resolves_each_flag_and_reports_the_ones_it_cannot(incident, agent) -> None:
    first, second = _flagged(incident), _flagged(incident)
    quiet = Entitlement.objects.create(
        incident=incident,
        coupon=CouponFactory(),
        category="1-2",
        route="callcenter",
        amount_yen=100,
        found_at=jst(2023, 3, 1),
    )

    result = entitlement_reviews_resolve(
        entitlement_ids=[first.pk, quiet.pk, second.pk], outcome="keep", actor=agent, reason="一括で確認"
    )

    assert result.resolved == [first.pk, second.pk]
    assert list(result.refused) == [quiet.pk]
    assert not Entitlement.objects.filter(needs_review=True).exists()
    assert ReviewResolution.objects.filter(actor=agent).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_people_resolving_the_same_flag_at_once_resolve_it_once(incident) -> None:
    # Given a flagged decision, and two staff resolving it at the same moment
    flagged = _flagged(incident)
    first, second = User.objects.create_user("a"), User.objects.create_user("b")
    outcomes: list[str] = []

    def resolve(actor: User, outcome: str) -> None:
        try:
            entitlement_review_resolve(entitlement_id=flagged.pk, outcome=outcome, actor=actor, reason="同時")
            outcomes.append(outcome)
        except ReviewError:
            outcomes.append("refused")

    # When one holds the row (its transaction open) while the other tries
    with held_open(lambda: resolve(first, "reject")):
        pass  # committed when the block ends
    resolve(second, "accept")

    # Then exactly one resolution stands; the second was refused and changed nothing
    assert outcomes == ["reject", "refused"]
    assert ReviewResolution.objects.get().actor == first
    assert Entitlement.objects.get(pk=flagged.pk).status == "rejected"


@pytest.mark.django_db(transaction=True)
def test_concurrent_resolutions_in_threads_leave_one_resolution(incident) -> None:
    import threading

    from django.db import connection

    flagged = _flagged(incident)
    people = [User.objects.create_user(f"p{n}") for n in range(4)]
    barrier = threading.Barrier(len(people))
    results: list[str] = []

    def resolve(actor: User, outcome: str) -> None:
        try:
            barrier.wait()
            entitlement_review_resolve(entitlement_id=flagged.pk, outcome=outcome, actor=actor, reason="同時")
            results.append(outcome)
        except ReviewError:
            results.append("refused")
        finally:
            connection.close()

    threads = [
        threading.Thread(target=resolve, args=(p, o))
        for p, o in zip(people, ["accept", "keep", "reject", "accept"], strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(results).count("refused") == 3
    resolution = ReviewResolution.objects.get()
    decided = Entitlement.objects.get(pk=flagged.pk)
    assert decided.needs_review is False
    expected = {"accept": (2500, "extended"), "keep": (3000, "extended"), "reject": (3000, "rejected")}
    assert (decided.amount_yen, decided.status) == expected[resolution.outcome]


# --- the admin -------------------------------------------------------------------------------------
@pytest.fixture
def operator(db) -> User:
    user = User.objects.create_user("ops", password="x", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_entitlement", "change_entitlement"])
    )
    return user


@pytest.mark.django_db
def test_the_admin_resolves_flags_in_bulk_with_one_reason(client, incident, operator) -> None:
    first, second = _flagged(incident), _flagged(incident)
    login_verified(client, operator)
    changelist = reverse("admin:claims_entitlement_changelist")

    # The list's action asks for the outcome and the reason
    page = client.post(changelist, {"action": "resolve_reviews", "_selected_action": [first.pk, second.pk]})
    assert page.status_code == 200
    assert "要確認の解決" in page.content.decode()

    # Without a reason the page says so and nothing is resolved
    url = reverse("admin:claims_entitlement_resolve")
    refused = client.post(url, {"entitlement": [first.pk, second.pk], "outcome": "accept", "reason": ""})
    assert "理由を入力してください" in refused.content.decode()
    assert Entitlement.objects.filter(needs_review=True).count() == 2

    done = client.post(url, {"entitlement": [first.pk, second.pk], "outcome": "accept", "reason": "確認済み"})
    assert done.status_code == 302
    assert not Entitlement.objects.filter(needs_review=True).exists()
    assert set(ReviewResolution.objects.values_list("actor__username", "outcome")) == {("ops", "accept")}


@pytest.mark.django_db
def test_the_dashboard_says_when_the_rules_changed_after_the_last_run(client, incident, operator) -> None:
    from claims.services.runs import eligibility_run_create, eligibility_run_execute

    run = eligibility_run_create(incident=incident, created_by=None, enqueue=False)
    eligibility_run_execute(run_id=run.pk)
    login_verified(client, operator)
    dashboard = reverse("admin:claims_dashboard")
    assert "最後の判定のあとで" not in client.get(dashboard).content.decode()

    incident.outage_start = jst(2023, 2, 24, 17, 30)
    incident.save()

    assert (
        "最後の判定のあとで「障害（補償の基準）」が変更されました" in client.get(dashboard).content.decode()
    )


@pytest.mark.django_db
def test_the_flags_note_writes_amounts_with_separators(incident) -> None:
    """Staff read the note aloud on the phone: 2,500 円, not 2500 円."""
    flagged = _flagged(incident, balance=3000, late=500)
    assert "2,500 円になりました（記録は 3,000 円）" in flagged.review_note
