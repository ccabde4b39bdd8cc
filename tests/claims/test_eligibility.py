"""The eligibility engine against DOMAIN.md "How the portal decides".

The property test builds adversarial ledgers (movements at and a hair around every cut-off and
outage boundary, same-second and 300/301-second repeats, cancels with the right and the wrong
request id, till records at exactly 600/601 seconds) and checks the engine's rows against
``tests.claims.reference``, a plain-Python reading of the rules written from DOMAIN.md. The plain
tests pin the edges one by one, and the engine's promises: idempotent, all-or-nothing, a person's
decision is never rewritten, late data only flags.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from claims.models import Entitlement, EntitlementStatusChange, Incident, Instruction, Reinstatement
from claims.services.eligibility import eligibility_run
from claims.services.entitlements import entitlement_reject
from claims.services.reinstatements import reinstatable_movement_ids, reinstatement_decide
from coupons.models import Coupon, CouponMovement, Store, StoreSale
from coupons.services.ledger_changes import ledger_changes_note
from tests.claims.reference import (
    Confirmation,
    CouponRecord,
    Decision,
    MovementRecord,
    Rules,
    SaleRecord,
    decide,
)
from tests.factories import CouponFactory, MovementFactory, StoreFactory, StoreSaleFactory, jst

pytestmark = pytest.mark.django_db

JST = ZoneInfo("Asia/Tokyo")
UTC = dt.UTC
INCIDENT_CODE = "regionpay-2023-02-24"

ISSUED_AT = jst(2023, 2, 23, 10)
OUTAGE_START = jst(2023, 2, 24, 16)
OUTAGE_END = jst(2023, 2, 25)
CUTOFF_1_2 = jst(2023, 2, 26)
CUTOFF_1_1 = jst(2023, 2, 27)
FINAL_AT = jst(2023, 4, 1)
EXTENDED_UNTIL = jst(2023, 3, 31, 23, 59, 59)
AFTER_FINAL = jst(2023, 4, 2, 9)
BEFORE_FINAL = jst(2023, 3, 1, 9)
ALL_GROUPS = {"1-1": 0, "1-2": 0, "2-2": 0, "2-1": 0}
# The flag and the reading it holds (the new amounts) — what late data may change on a decision.
FLAG_FIELDS = {"needs_review", "review_note", "review_amount_yen", "review_final_yen"}


# --- fixtures and helpers --------------------------------------------------------------------------
def _run(incident: Incident, as_of: dt.datetime = AFTER_FINAL, **kwargs):
    return eligibility_run(incident=incident, as_of=as_of, **kwargs)


def _issue(coupon: Coupon, amount: int, at: dt.datetime = ISSUED_AT, **kwargs) -> CouponMovement:
    return MovementFactory(coupon=coupon, kind="issue", amount_yen=amount, occurred_at=at, **kwargs)


def _pay(coupon: Coupon, amount: int, at: dt.datetime, *, store: Store, request_id: str = "", **kwargs):
    return MovementFactory(
        coupon=coupon,
        kind="payment",
        amount_yen=-amount,
        occurred_at=at,
        store=store,
        request_id=request_id,
        **kwargs,
    )


def _cancel(coupon: Coupon, amount: int, at: dt.datetime, *, store: Store, request_id: str):
    return MovementFactory(
        coupon=coupon, kind="cancel", amount_yen=amount, occurred_at=at, store=store, request_id=request_id
    )


def _decisions() -> dict[tuple[str, str], Decision]:
    """The engine's entitlements in the reference's shape."""
    return {
        (e.coupon_id, e.category): Decision(
            amount_yen=e.amount_yen,
            route=e.route,
            status=e.status,
            cutoff_at=e.cutoff_at,
            valid_until=e.valid_until,
            final_balance_yen=e.final_balance_yen,
            evidence=e.evidence,
            needs_review=e.needs_review,
        )
        for e in Entitlement.objects.all()
    }


def _rows() -> tuple[list[tuple], list[tuple], list[tuple]]:
    """Every column of every row the engine writes: entitlements, their history, instructions."""
    return (
        list(Entitlement.objects.order_by("id").values_list()),
        list(EntitlementStatusChange.objects.order_by("id").values_list()),
        list(Instruction.objects.order_by("instruction_id").values_list()),
    )


def _rows_by_natural_key() -> tuple[list[tuple], list[tuple], list[tuple]]:
    """The same rows without surrogate ids (sequences are not rolled back with a transaction)."""
    entitlements = sorted(
        tuple(v for k, v in row.items() if k != "id")
        for row in Entitlement.objects.values(
            "coupon_id",
            "category",
            "route",
            "status",
            "cutoff_at",
            "amount_yen",
            "valid_until",
            "final_balance_yen",
            "evidence",
            "needs_review",
            "review_note",
            "found_at",
        )
    )
    history = sorted(
        EntitlementStatusChange.objects.values_list(
            "entitlement__coupon_id", "entitlement__category", "from_status", "to_status", "note", "at"
        )
    )
    instructions = sorted(
        Instruction.objects.values_list(
            "instruction_id",
            "entitlement__coupon_id",
            "entitlement__category",
            "action",
            "valid_until",
            "amount_yen",
            "decided_at",
            "applied_at",
            "applied_movement_id",
        )
    )
    return entitlements, history, instructions


def _nothing_written() -> bool:
    return not (
        Entitlement.objects.exists()
        or EntitlementStatusChange.objects.exists()
        or Instruction.objects.exists()
    )


# --- the property test: the engine against the reference ------------------------------------------
BOUNDARIES = [CUTOFF_1_2, CUTOFF_1_1, FINAL_AT, OUTAGE_START, OUTAGE_END]
NUDGES = [
    dt.timedelta(0),
    dt.timedelta(microseconds=1),
    -dt.timedelta(microseconds=1),
    dt.timedelta(seconds=1),
    -dt.timedelta(seconds=1),
]
EXPIRIES = [dt.date(2023, 2, 23), dt.date(2023, 2, 24), dt.date(2023, 2, 25), dt.date(2023, 2, 26)]
PREFECTURES = ["12", "12", "12", "13"]  # now and then a coupon of another campaign in the export
APP_VARIANTS = [
    {},  # paper only
    {"app_account_id": "APPPHONE", "app_phone": "+819012345678"},
    {"app_account_id": "APPMAIL", "app_email": "traveller@example.jp"},
    {"app_account_id": "APPBOTH", "app_phone": "+819012345678", "app_email": "traveller@example.jp"},
    {"app_account_id": "APPNOWHERE"},  # in the app, nowhere to send the URL to
    {"app_account_id": "APPLANDLINE", "app_phone": "+81312345678"},  # no SMS to a landline
    {
        "app_account_id": "APPGONE",
        "app_phone": "+819012345678",
        "app_email": "traveller@example.jp",
        "app_withdrawn_at": jst(2023, 2, 28, 12),
    },
    {"app_phone": "+819012345678"},  # a phone but never charged into the app
]
STORES = ["S1", "S2", "S3"]
AMOUNTS = [500, 1000, 3000]  # few, so one coupon's payments often share an amount
REQUEST_IDS = ["", "", "Q1", "Q2", "Q3"]  # shared by payments and coupons on purpose
GAPS = [
    dt.timedelta(0),
    dt.timedelta(microseconds=1),
    dt.timedelta(seconds=40),
    dt.timedelta(seconds=299),
    dt.timedelta(seconds=300),
    dt.timedelta(seconds=300, microseconds=1),
    dt.timedelta(seconds=301),
    dt.timedelta(seconds=900),
]
SALE_OFFSETS = [dt.timedelta(seconds=s) for s in (0, 60, -60, 599, -599, 600, -600, 601, -601)] + [
    dt.timedelta(seconds=600, microseconds=1),
    -dt.timedelta(seconds=600, microseconds=1),
]
TENDERS = ["cash", "cash", "card", "coupon", "qr", "other"]
# Clocks before every cut-off as well as after the last one.
AS_OFS = [
    OUTAGE_START + dt.timedelta(hours=3),
    OUTAGE_END - dt.timedelta(microseconds=1),
    OUTAGE_END,
    CUTOFF_1_2 - dt.timedelta(microseconds=1),
    CUTOFF_1_2,
    CUTOFF_1_1 - dt.timedelta(microseconds=1),
    CUTOFF_1_1,
    FINAL_AT - dt.timedelta(microseconds=1),
    FINAL_AT,
    FINAL_AT + dt.timedelta(microseconds=1),
    AFTER_FINAL,
    jst(2023, 6, 1),
]
# When a person confirms a 2-x candidate (after every cut-off but the final one), and when the
# platform echoes the reinstatement (relative to the decision; None: not yet).
DECIDED_ATS = [
    jst(2023, 3, 1, 10),
    FINAL_AT - dt.timedelta(seconds=1),
    FINAL_AT,
    FINAL_AT + dt.timedelta(days=2),
]
ECHO_DELAYS = [None, dt.timedelta(hours=1), dt.timedelta(days=3), dt.timedelta(days=40)]

near_boundary = st.builds(lambda at, nudge: at + nudge, st.sampled_from(BOUNDARIES), st.sampled_from(NUDGES))
near_outage_edge = st.builds(
    lambda at, nudge: at + nudge, st.sampled_from([OUTAGE_START, OUTAGE_END]), st.sampled_from(NUDGES)
)
in_outage = st.builds(
    lambda s: OUTAGE_START + dt.timedelta(seconds=s), st.integers(min_value=0, max_value=8 * 3600 - 1)
)
anywhere = st.datetimes(
    min_value=dt.datetime(2023, 2, 20),  # noqa: DTZ001 - bounds of a strategy that adds the zone
    max_value=dt.datetime(2023, 4, 5),  # noqa: DTZ001
    timezones=st.just(JST),
)
zones = st.sampled_from([JST, UTC])


def written(instants: st.SearchStrategy[dt.datetime]) -> st.SearchStrategy[dt.datetime]:
    """The same instant, written sometimes in JST and sometimes in UTC."""
    return st.tuples(instants, zones).map(lambda pair: pair[0].astimezone(pair[1]))


@dataclasses.dataclass
class Scenario:
    coupons: list[CouponRecord]
    movements: list[MovementRecord]
    sales: list[SaleRecord]
    as_of: dt.datetime


@st.composite
def scenarios(draw) -> Scenario:
    coupons: list[CouponRecord] = []
    movements: list[MovementRecord] = []

    def add(inquiry: str, kind: str, amount: int, at: dt.datetime, store=None, request_id="") -> None:
        movements.append(
            MovementRecord(f"M{len(movements):03d}", inquiry, kind, amount, at, store, request_id)
        )

    for index in range(draw(st.integers(min_value=1, max_value=5))):
        inquiry = f"C{index}"
        app = draw(st.sampled_from(APP_VARIANTS))
        prefecture = draw(st.sampled_from(PREFECTURES))
        coupons.append(
            CouponRecord(inquiry, draw(st.sampled_from(EXPIRIES)), **app, prefecture_code=prefecture)
        )
        for issue in range(draw(st.integers(min_value=0, max_value=2))):
            amount = draw(st.sampled_from([1, 500, 1000, 3000, 5000]))
            issued = st.just(ISSUED_AT) if issue == 0 else st.nothing()
            add(inquiry, "issue", amount, draw(written(st.one_of(issued, near_boundary, anywhere))))
        # Bursts of payments: repeats at the interesting gaps, now and then another store or amount;
        # a till that retried keeps one request id for several payments.
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            store, amount = draw(st.sampled_from(STORES)), draw(st.sampled_from(AMOUNTS))
            at = draw(st.one_of(in_outage, in_outage, near_outage_edge, near_boundary, anywhere))
            backwards = draw(st.booleans())  # so that a burst can also end on an edge
            burst_request = draw(st.sampled_from([None, f"{inquiry}B{len(movements)}", "Q1"]))
            for repeat in range(draw(st.integers(min_value=1, max_value=4))):
                if repeat:
                    gap = draw(st.sampled_from(GAPS))
                    at = at - gap if backwards else at + gap
                    if draw(st.integers(min_value=0, max_value=5)) == 0:
                        store = draw(st.sampled_from(STORES))
                    if draw(st.integers(min_value=0, max_value=5)) == 0:
                        amount = draw(st.sampled_from(AMOUNTS))
                at = at.astimezone(draw(zones))
                request_id = burst_request or draw(
                    st.sampled_from([*REQUEST_IDS, f"{inquiry}R{len(movements)}"])
                )
                add(inquiry, "payment", -amount, at, store, request_id)
                # None, one or more cancels: of this payment's request id (and amount, or another),
                # before or after it, or of another request id.
                for _ in range(draw(st.sampled_from([0, 0, 0, 1, 1, 2]))):
                    cancel_id = draw(st.sampled_from([request_id, request_id, *REQUEST_IDS]))
                    cancel_amount = draw(st.sampled_from([amount, amount, amount, *AMOUNTS]))
                    cancel_at = draw(
                        st.one_of(
                            st.sampled_from(
                                [
                                    dt.timedelta(0),
                                    dt.timedelta(seconds=1),
                                    dt.timedelta(days=1),
                                    -dt.timedelta(seconds=1),
                                ]
                            ).map(lambda delay, at=at: at + delay),
                            written(anywhere),
                        )
                    )
                    add(inquiry, "cancel", cancel_amount, cancel_at, store, cancel_id)
        # Other movements at and around the cut-offs.
        for _ in range(draw(st.integers(min_value=0, max_value=3))):
            kind = draw(st.sampled_from(["adjustment", "reinstatement", "charge"]))
            amount = {
                "adjustment": st.integers(min_value=-3000, max_value=3000),
                "reinstatement": st.integers(min_value=1, max_value=3000),
                "charge": st.just(0),
            }[kind]
            add(inquiry, kind, draw(amount), draw(written(st.one_of(near_boundary, anywhere))))
        # Sometimes the traveller spends what is left, just before or exactly at 2023-04-01 00:00 JST;
        # an overdrawn coupon (an adjustment took more than was left) is sometimes left overdrawn.
        final = sum(
            m.amount_yen for m in movements if m.inquiry_number == inquiry and m.occurred_at < FINAL_AT
        )
        if final > 0 and draw(st.booleans()):
            at = draw(written(st.builds(lambda nudge: FINAL_AT + nudge, st.sampled_from(NUDGES))))
            add(inquiry, "adjustment", -final, at)
        elif final < 0 and draw(st.booleans()):
            at = draw(written(st.sampled_from([jst(2023, 3, 15), FINAL_AT - dt.timedelta(microseconds=1)])))
            add(inquiry, "adjustment", -final, at)

    sales: list[SaleRecord] = []
    for payment in (m for m in movements if m.kind == "payment"):
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            same_store, same_amount = draw(st.booleans()), draw(st.integers(min_value=0, max_value=3)) > 0
            sales.append(
                SaleRecord(
                    store_id=payment.store_id
                    if same_store or draw(st.booleans())
                    else draw(st.sampled_from(STORES)),
                    receipt_number=f"R{len(sales):03d}",
                    occurred_at=(payment.occurred_at + draw(st.sampled_from(SALE_OFFSETS))).astimezone(
                        draw(zones)
                    ),
                    amount_yen=-payment.amount_yen if same_amount else draw(st.sampled_from(AMOUNTS)),
                    tender=draw(st.sampled_from(TENDERS)),
                )
            )
    return Scenario(coupons, movements, sales, draw(st.sampled_from(AS_OFS)))


def _prefixed(scenario: Scenario, prefix: str) -> Scenario:
    """Unique ids per example (belt and braces: each example is rolled back anyway)."""
    return Scenario(
        coupons=[dataclasses.replace(c, inquiry_number=prefix + c.inquiry_number) for c in scenario.coupons],
        movements=[
            dataclasses.replace(
                m, movement_id=prefix + m.movement_id, inquiry_number=prefix + m.inquiry_number
            )
            for m in scenario.movements
        ],
        sales=[dataclasses.replace(s, receipt_number=prefix + s.receipt_number) for s in scenario.sales],
        as_of=scenario.as_of,
    )


def _insert(scenario: Scenario) -> None:
    Store.objects.bulk_create(
        [Store(store_id=s, store_name=f"店舗 {s}", prefecture_code="12") for s in STORES],
        ignore_conflicts=True,
    )
    Coupon.objects.bulk_create(
        Coupon(
            inquiry_number=c.inquiry_number,
            face_value_yen=3000,
            issued_at=ISSUED_AT,
            expires_on=c.expires_on,
            issuing_shop="房総トラベル 千葉支店",
            prefecture_code=c.prefecture_code,
            app_account_id=c.app_account_id,
            app_phone=c.app_phone,
            app_email=c.app_email,
            app_withdrawn_at=c.app_withdrawn_at,
        )
        for c in scenario.coupons
    )
    _insert_records(scenario.movements, scenario.sales)


def _insert_records(movements: list[MovementRecord], sales: list[SaleRecord], *, noted: bool = False) -> None:
    """The movements and till records; ``noted`` in the change log too, as the importer does."""
    CouponMovement.objects.bulk_create(
        CouponMovement(
            movement_id=m.movement_id,
            coupon_id=m.inquiry_number,
            kind=m.kind,
            amount_yen=m.amount_yen,
            occurred_at=m.occurred_at,
            store_id=m.store_id,
            request_id=m.request_id,
        )
        for m in movements
    )
    StoreSale.objects.bulk_create(
        StoreSale(
            store_id=s.store_id,
            receipt_number=s.receipt_number,
            occurred_at=s.occurred_at,
            amount_yen=s.amount_yen,
            tender=s.tender,
        )
        for s in sales
    )
    if noted:
        ledger_changes_note(scope="coupon", rows=[(m.inquiry_number, m.occurred_at) for m in movements])
        ledger_changes_note(scope="store", rows=[(s.store_id, s.occurred_at) for s in sales])


_example = itertools.count()


@settings(max_examples=90, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(generated=scenarios(), data=st.data())
def test_engine_records_exactly_the_entitlements_the_rules_define_on_adversarial_ledgers(
    incident, generated, data
) -> None:
    with transaction.atomic():
        # Given a fresh, adversarial ledger (timestamps written in JST or UTC alike)
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE coupons_couponmovement, coupons_storesale, claims_reinstatement, "
                "claims_instruction, claims_reviewresolution, claims_entitlementstatuschange, "
                "claims_entitlement CASCADE"
            )
        scenario = _prefixed(generated, f"H{next(_example):05d}")
        _insert(scenario)
        rules = Rules.of(incident)
        expected = decide(rules, scenario.coupons, scenario.movements, scenario.sales, as_of=scenario.as_of)

        # When the engine runs at a clock before, at or after each cut-off
        summary = eligibility_run(incident=incident, as_of=scenario.as_of)

        # Then it records exactly the reference's entitlements: category, amount, route, status,
        # cut-off, extension, evidence, final amount and flag
        assert _decisions() == expected
        created = {category: 0 for category in ALL_GROUPS}
        for _coupon, category in expected:
            created[category] += 1
        assert summary.created == created
        # and each 1-1 coupon (and only those) gets one instruction to extend it to 3/31 23:59:59 JST
        assert sorted(
            Instruction.objects.values_list("entitlement__coupon_id", "action", "valid_until")
        ) == sorted(
            (coupon, "extend_validity", EXTENDED_UNTIL) for coupon, category in expected if category == "1-1"
        )

        # When it runs again, Then nothing changes and nothing is created
        before = _rows()
        again = eligibility_run(incident=incident, as_of=scenario.as_of)
        assert _rows() == before
        assert again.created == ALL_GROUPS
        assert again.flagged_for_review == again.final_balances_recorded == 0

        # When people confirm some 2-x candidates (before or after the final instant), the platform
        # echoes some of the reinstatements (before or after it), and the engine runs after it
        # (from a clock before the final instant: a run after it has recorded final amounts that
        # later decisions would only flag, where the reference reads everything afresh)
        candidates = sorted(k for k, d in expected.items() if k[1] in {"2-1", "2-2"} and d.status == "found")
        if scenario.as_of >= FINAL_AT:
            candidates = []
        confirmations: list[Confirmation] = []
        echoes: list[MovementRecord] = []
        for inquiry_number, category in candidates:
            if not data.draw(st.booleans(), label=f"confirm {inquiry_number} {category}"):
                continue
            entitlement = Entitlement.objects.get(coupon_id=inquiry_number, category=category)
            decided_at = data.draw(
                st.sampled_from([at for at in DECIDED_ATS if at >= scenario.as_of]), label="decided at"
            )
            with time_machine.travel(decided_at, tick=False):
                reinstatement_decide(
                    entitlement_id=entitlement.pk,
                    movement_ids=reinstatable_movement_ids(entitlement),
                    actor=None,
                    note="店舗記録と一致",
                )
            instruction = Instruction.objects.filter(entitlement=entitlement, action="reinstate").first()
            assert (instruction is None) == (decided_at >= FINAL_AT)  # nothing is sent once the coupon closed
            confirmations.append(
                Confirmation(
                    inquiry_number,
                    category,
                    decided_at,
                    expected[(inquiry_number, category)].amount_yen,
                    instruction.instruction_id if instruction else None,
                )
            )
            delay = data.draw(st.sampled_from(ECHO_DELAYS), label="echo delay")
            if instruction is not None and delay is not None:
                echoes.append(
                    MovementRecord(
                        f"E{len(echoes):03d}{inquiry_number}",
                        inquiry_number,
                        "reinstatement",
                        instruction.amount_yen,
                        decided_at + delay,
                        None,
                        instruction.instruction_id,
                    )
                )
        if confirmations:
            _insert_records(echoes, [], noted=True)
            later = max(scenario.as_of, jst(2023, 5, 20))
            eligibility_run(incident=incident, as_of=later)

            # Then the final amounts are the reference's: the balance at the final instant, plus the
            # echoes at or after it, plus what was decided at or after it (and none while an echo waits)
            assert _decisions() == decide(
                rules,
                scenario.coupons,
                scenario.movements + echoes,
                scenario.sales,
                as_of=later,
                confirmations=confirmations,
            )
            # and no payment movement was reinstated twice
            assert Reinstatement.objects.count() == len(set(Reinstatement.objects.values_list("movement_id")))

        transaction.set_rollback(True)  # the next example starts from an empty ledger


# --- a small ledger with one coupon in every group -------------------------------------------------
@pytest.fixture
def ledger() -> dict[str, Coupon]:
    """One coupon per group, plus a bystander, all at store S00001 (which also records cash sales).

    - C11APP: 1-1 (expires 2/24), charged into the app with a phone; 3,000 - 1,000 = 2,000 at 2/27;
      then 500 more spent in March: final 1,500.
    - C11PAPER: 1-1, paper only; 1,000 at 2/27, used up in March: final 0.
    - C12: 1-2 (expires 2/25), 1,200 at 2/26.
    - C22: expires 2/26; paid 800 three times within 300 s at 18:00 JST: duplicates 1,600.
    - C21: expires 2/26; paid 700 at 19:00 JST while the till took 700 in cash at 19:05.
    - CIDLE: 1-1 expiry but used up before 2/27: nothing.
    """
    store = StoreFactory(store_id="S00001")
    coupons = {
        name: CouponFactory(inquiry_number=name, expires_on=expires_on, **app)
        for name, expires_on, app in [
            ("C11APP", dt.date(2023, 2, 24), {"app_account_id": "A1", "app_phone": "+819012345678"}),
            ("C11PAPER", dt.date(2023, 2, 24), {}),
            ("C12", dt.date(2023, 2, 25), {}),
            ("C22", dt.date(2023, 2, 26), {}),
            ("C21", dt.date(2023, 2, 26), {}),
            ("CIDLE", dt.date(2023, 2, 24), {}),
        ]
    }
    _issue(coupons["C11APP"], 3000)
    _pay(coupons["C11APP"], 1000, jst(2023, 2, 26, 12), store=store, request_id="P1")
    _pay(coupons["C11APP"], 500, jst(2023, 3, 10, 12), store=store, request_id="P2")
    _issue(coupons["C11PAPER"], 1000)
    _pay(coupons["C11PAPER"], 1000, jst(2023, 3, 31, 23, 59, 59), store=store, request_id="P3")
    _issue(coupons["C12"], 1200)
    _issue(coupons["C22"], 5000)
    for i, second in enumerate((0, 200, 500)):
        at = jst(2023, 2, 24, 18) + dt.timedelta(seconds=second)
        _pay(coupons["C22"], 800, at, store=store, request_id=f"D{i}")
    _issue(coupons["C21"], 2000)
    _pay(coupons["C21"], 700, jst(2023, 2, 24, 19), store=store, request_id="T1")
    StoreSaleFactory(store=store, amount_yen=700, tender="cash", occurred_at=jst(2023, 2, 24, 19, 5))
    _issue(coupons["CIDLE"], 1000)
    _pay(coupons["CIDLE"], 1000, jst(2023, 2, 25, 10), store=store, request_id="P4")
    return coupons


LEDGER_DECISIONS = {
    ("C11APP", "1-1"): (2000, "app", "payable", 1500),
    ("C11PAPER", "1-1"): (1000, "application", "used_up", 0),
    ("C12", "1-2"): (1200, "callcenter", "found", None),
    ("C22", "2-2"): (1600, "callcenter", "found", None),
    ("C21", "2-1"): (700, "callcenter", "found", None),
}


def _summary_of_decisions() -> dict[tuple[str, str], tuple]:
    return {key: (d.amount_yen, d.route, d.status, d.final_balance_yen) for key, d in _decisions().items()}


def test_the_small_ledger_gives_one_entitlement_per_group_as_the_reference_says(incident, ledger) -> None:
    # Given the small ledger
    # When the engine runs after 2023-04-01 00:00 JST
    _run(incident)

    # Then every group has its coupon, as DOMAIN.md and the reference say
    assert _summary_of_decisions() == LEDGER_DECISIONS
    coupons = [
        CouponRecord(
            c.inquiry_number,
            c.expires_on,
            c.app_account_id,
            str(c.app_phone),
            c.app_email,
            c.app_withdrawn_at,
        )
        for c in Coupon.objects.all()
    ]
    movements = [
        MovementRecord(
            m.movement_id, m.coupon_id, m.kind, m.amount_yen, m.occurred_at, m.store_id, m.request_id
        )
        for m in CouponMovement.objects.all()
    ]
    sales = [
        SaleRecord(s.store_id, s.receipt_number, s.occurred_at, s.amount_yen, s.tender)
        for s in StoreSale.objects.all()
    ]
    assert _decisions() == decide(Rules.of(incident), coupons, movements, sales, as_of=AFTER_FINAL)


# --- idempotency ---------------------------------------------------------------------------------
def test_running_the_engine_twice_leaves_identical_rows_and_creates_nothing_the_second_time(
    incident, ledger
) -> None:
    # Given a first run
    first = _run(incident)
    assert first.created == {"1-1": 2, "1-2": 1, "2-2": 1, "2-1": 1}
    before = _rows()

    # When the engine runs again, at the same instant and a week later
    again = _run(incident)
    later = _run(incident, as_of=AFTER_FINAL + dt.timedelta(days=7))

    # Then every row is as it was (ids, timestamps, history, instructions) and nothing was created
    assert _rows() == before
    for summary in (again, later):
        assert summary.created == ALL_GROUPS
        assert summary.flagged_for_review == 0
        assert summary.final_balances_recorded == 0
        assert summary.instructions_applied == 0


# --- a run killed half-way -----------------------------------------------------------------------
class Killed(RuntimeError):
    pass


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("dies_at", ["1-2", "2-1", "review", "applied"])
def test_a_run_killed_half_way_leaves_nothing_and_the_next_run_equals_a_clean_one(
    incident, ledger, dies_at
) -> None:
    # Given the small ledger, committed, and a run that dies at a later step, after it has written
    seen_inside: list[int] = []
    seen_outside: list[int] = []

    def die(step: str, done: int, total: int) -> None:
        if step != dies_at:
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM claims_entitlement")
            seen_inside.append(cursor.fetchone()[0])
        other = connection.copy()
        try:
            with other.cursor() as cursor:
                cursor.execute("SELECT count(*) FROM claims_entitlement")
                seen_outside.append(cursor.fetchone()[0])
        finally:
            other.close()
        raise Killed(f"killed at {step}")

    # When it dies
    with pytest.raises(Killed):
        _run(incident, progress=die)

    # Then it had written rows that no other session could see, and they are all gone
    assert seen_inside[0] >= 2  # at least the two 1-1 rows were inserted
    assert seen_outside == [0]
    assert _nothing_written()

    # When the engine runs again, Then it ends with exactly what one clean run writes
    _run(incident)
    after_failure = _rows_by_natural_key()
    with connection.cursor() as cursor:
        cursor.execute(
            "TRUNCATE claims_instruction, claims_entitlementstatuschange, claims_entitlement CASCADE"
        )
    _run(incident)
    assert _rows_by_natural_key() == after_failure
    assert _summary_of_decisions() == LEDGER_DECISIONS


# --- a person's decision stands ------------------------------------------------------------------
def test_an_agents_rejection_survives_later_runs_and_new_movements_of_that_coupon(incident, ledger) -> None:
    # Given the 2-2 candidate of C22 rejected by an agent
    _run(incident, as_of=BEFORE_FINAL)
    candidate = Entitlement.objects.get(coupon_id="C22", category="2-2")
    entitlement_reject(entitlement_id=candidate.pk, actor=None, reason="店舗の記録では1回のみの決済")
    rejected = Entitlement.objects.filter(pk=candidate.pk).values().get()
    history = list(EntitlementStatusChange.objects.filter(entitlement=candidate).values_list("to_status"))

    # When the engine runs again, and again after another 800-yen repeat 100 s later arrives
    _run(incident, as_of=BEFORE_FINAL)
    assert Entitlement.objects.filter(pk=candidate.pk).values().get() == rejected
    _pay(ledger["C22"], 800, jst(2023, 2, 24, 18, 10), store=Store.objects.get(), request_id="D9")
    _run(incident, as_of=BEFORE_FINAL + dt.timedelta(days=1))
    _run(incident)

    # Then it is still the one rejected 2-2 row for C22, with its amount; only the review flag moved
    now = Entitlement.objects.filter(pk=candidate.pk).values().get()
    assert now["status"] == "rejected"
    assert now["amount_yen"] == rejected["amount_yen"] == 1600
    assert now["needs_review"] is True
    assert now["review_note"].strip()
    unchanged = {k: v for k, v in now.items() if k not in FLAG_FIELDS}
    assert unchanged == {k: v for k, v in rejected.items() if k not in FLAG_FIELDS}
    assert Entitlement.objects.filter(coupon_id="C22", category="2-2").count() == 1
    assert (
        list(EntitlementStatusChange.objects.filter(entitlement=candidate).values_list("to_status"))
        == history
    )


# --- late data only flags --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("coupon", "category", "late"),
    [
        pytest.param(
            "C11APP",
            "1-1",
            {"kind": "payment", "amount_yen": -300, "at": jst(2023, 2, 26, 23, 59, 59)},
            id="1-1",
        ),
        pytest.param(
            "C12", "1-2", {"kind": "adjustment", "amount_yen": 50, "at": jst(2023, 2, 25, 9)}, id="1-2"
        ),
        pytest.param(
            "C22", "2-2", {"kind": "cancel", "amount_yen": 800, "request_id": "D2"}, id="2-2-cancel"
        ),
    ],
)
def test_a_late_movement_that_changes_the_amount_flags_the_entitlement_for_review_and_changes_nothing_else(
    incident, ledger, coupon, category, late
) -> None:
    # Given the entitlement recorded by a first run
    _run(incident, as_of=BEFORE_FINAL)
    before = Entitlement.objects.filter(coupon_id=coupon, category=category).values().get()
    history = EntitlementStatusChange.objects.count()

    # When a movement dated before the cut-off (or a cancel) is imported later and the engine runs again
    MovementFactory(
        coupon=ledger[coupon],
        kind=late["kind"],
        amount_yen=late["amount_yen"],
        occurred_at=late.get("at", jst(2023, 3, 2, 10)),
        store=Store.objects.get(),
        request_id=late.get("request_id", ""),
    )
    summary = _run(incident, as_of=BEFORE_FINAL + dt.timedelta(days=1))

    # Then it is flagged with a reason, and its amount and status are as they were
    after = Entitlement.objects.filter(coupon_id=coupon, category=category).values().get()
    assert summary.flagged_for_review == 1
    assert after["needs_review"] is True
    assert after["review_note"].strip()
    assert {k: v for k, v in after.items() if k not in FLAG_FIELDS} == {
        k: v for k, v in before.items() if k not in FLAG_FIELDS
    }
    assert EntitlementStatusChange.objects.count() == history
    assert Entitlement.objects.filter(needs_review=True).count() == 1


def test_a_candidate_nobody_acted_on_that_a_late_cancel_no_longer_supports_is_withdrawn_with_a_note(
    incident, ledger
) -> None:
    # Given the 2-1 candidate of C21 recorded by a first run, not acted on
    _run(incident, as_of=BEFORE_FINAL)
    candidate = Entitlement.objects.get(coupon_id="C21", category="2-1")

    # When the store's cancel of that payment arrives late and the engine runs again
    _cancel(ledger["C21"], 700, jst(2023, 3, 2, 10), store=Store.objects.get(), request_id="T1")
    summary = _run(incident, as_of=BEFORE_FINAL + dt.timedelta(days=1))

    # Then it is withdrawn with a note, not flagged, and its amount and evidence are as recorded
    after = Entitlement.objects.get(pk=candidate.pk)
    assert (summary.withdrawn, summary.flagged_for_review) == (1, 0)
    assert (after.status, after.needs_review, after.amount_yen) == ("withdrawn", False, 700)
    assert after.evidence == candidate.evidence
    change = EntitlementStatusChange.objects.filter(entitlement=candidate).last()
    assert (change.from_status, change.to_status, change.actor) == ("found", "withdrawn", None)
    assert "根拠" in change.note


def test_correcting_the_outage_window_and_back_withdraws_and_restores_candidates_and_leaves_no_flag(
    incident, ledger
) -> None:
    # Given the candidates of a first run (2-2 of C22 at 18:00, 2-1 of C21 at 19:00)
    _run(incident, as_of=BEFORE_FINAL)
    before = {
        e.pk: (e.status, e.amount_yen, e.evidence)
        for e in Entitlement.objects.filter(category__in=["2-1", "2-2"])
    }

    # When operations move the outage start to 19:30 (both payments now before it), and run
    incident.outage_start = jst(2023, 2, 24, 19, 30)
    incident.save()
    moved = _run(incident, as_of=BEFORE_FINAL)

    # Then both candidates are withdrawn, none flagged
    assert (moved.withdrawn, moved.flagged_for_review) == (2, 0)
    assert set(Entitlement.objects.filter(pk__in=before).values_list("status", flat=True)) == {"withdrawn"}

    # When the window is corrected back, Then both are candidates again, as they were, and no flag stays
    incident.outage_start = jst(2023, 2, 24, 16)
    incident.save()
    back = _run(incident, as_of=BEFORE_FINAL)
    assert back.restored == 2
    assert {
        e.pk: (e.status, e.amount_yen, e.evidence) for e in Entitlement.objects.filter(pk__in=before)
    } == before
    assert not Entitlement.objects.filter(needs_review=True).exists()


def test_a_flag_whose_cause_went_away_clears_itself_with_a_note(incident, ledger) -> None:
    # Given the 1-2 decision of C12 flagged by a late adjustment dated before its cut-off
    _run(incident, as_of=BEFORE_FINAL)
    adjustment = {"kind": "adjustment", "occurred_at": jst(2023, 2, 25, 9), "coupon": ledger["C12"]}
    MovementFactory(amount_yen=50, **adjustment)
    _run(incident, as_of=BEFORE_FINAL)
    decision = Entitlement.objects.get(coupon_id="C12", category="1-2")
    assert (decision.needs_review, decision.review_amount_yen) == (True, 1250)

    # When the platform corrects it (the data agrees with the decision again) and the engine runs
    MovementFactory(amount_yen=-50, **adjustment)
    summary = _run(incident, as_of=BEFORE_FINAL)

    # Then the flag is gone, with a note of why, and nothing else changed
    decision.refresh_from_db()
    assert summary.review_cleared == 1
    assert (decision.needs_review, decision.review_note, decision.amount_yen) == (False, "", 1200)
    note = decision.resolutions.get()
    assert (note.outcome, note.actor) == ("cleared", None)
    assert "解除" in note.reason


def test_a_movement_after_the_cut_off_does_not_flag_the_entitlement(incident, ledger) -> None:
    # Given the entitlements of a first run
    _run(incident, as_of=BEFORE_FINAL)
    before = _rows()

    # When a payment dated exactly at the 1-1 cut-off arrives late
    _pay(ledger["C11APP"], 300, CUTOFF_1_1, store=Store.objects.get(), request_id="LATE")
    summary = _run(incident, as_of=BEFORE_FINAL)

    # Then nothing is flagged or changed
    assert summary.flagged_for_review == 0
    assert _rows() == before


# --- the edges, one by one -----------------------------------------------------------------------
@pytest.fixture
def store() -> Store:
    return StoreFactory(store_id="S00001")


def _one_1_1_coupon(store: Store, payment_at: dt.datetime) -> Coupon:
    coupon = CouponFactory(inquiry_number="CB0001", expires_on=dt.date(2023, 2, 24))
    _issue(coupon, 3000)
    _pay(coupon, 1000, payment_at, store=store, request_id="P1")
    return coupon


def test_a_payment_at_exactly_midnight_jst_on_2_27_does_not_reduce_the_1_1_amount(incident, store) -> None:
    # Given a 1-1 coupon of 3,000 paid 1,000 at exactly 2023-02-27 00:00:00 JST
    _one_1_1_coupon(store, jst(2023, 2, 27))

    # When the engine runs
    _run(incident)

    # Then the 1-1 amount is the full 3,000 (the payment is not before the cut-off)
    entitlement = Entitlement.objects.get(coupon_id="CB0001", category="1-1")
    assert entitlement.amount_yen == 3000
    assert entitlement.final_balance_yen == 2000


def test_a_payment_at_23_59_59_jst_on_2_26_reduces_the_1_1_amount(incident, store) -> None:
    # Given a 1-1 coupon of 3,000 paid 1,000 at 2023-02-26 23:59:59 JST
    _one_1_1_coupon(store, jst(2023, 2, 26, 23, 59, 59))

    # When the engine runs
    _run(incident)

    # Then the 1-1 amount is 2,000
    assert Entitlement.objects.get(coupon_id="CB0001", category="1-1").amount_yen == 2000


def test_the_1_1_cut_off_is_2023_02_26_15_00_utc_whatever_zone_the_ledger_was_written_in(
    incident, store
) -> None:
    # Given a 1-1 coupon paid 100 at 14:59:59 UTC and 200 at 15:00:00 UTC on 2023-02-26
    coupon = _one_1_1_coupon(store, dt.datetime(2023, 2, 26, 14, 59, 59, tzinfo=UTC))
    _pay(coupon, 200, dt.datetime(2023, 2, 26, 15, 0, 0, tzinfo=UTC), store=store, request_id="P2")

    # When the engine runs
    _run(incident)

    # Then the cut-off is 2023-02-26T15:00:00Z = 2023-02-27 00:00 JST: the first counts, the second not
    entitlement = Entitlement.objects.get(coupon_id="CB0001", category="1-1")
    assert incident.group_1_1_cutoff_at == dt.datetime(2023, 2, 26, 15, tzinfo=UTC)
    assert entitlement.cutoff_at == dt.datetime(2023, 2, 26, 15, tzinfo=UTC)
    assert entitlement.cutoff_at.astimezone(JST).isoformat() == "2023-02-27T00:00:00+09:00"
    assert entitlement.amount_yen == 2000


def test_a_1_2_coupon_is_judged_on_its_balance_at_midnight_jst_on_2_26(incident, store) -> None:
    # Given a coupon expiring 2/25, 1,000, paid 400 at 2/25 23:59:59 JST and 600 at 2/26 00:00:00 JST
    coupon = CouponFactory(inquiry_number="CB0012", expires_on=dt.date(2023, 2, 25))
    _issue(coupon, 1000)
    _pay(coupon, 400, jst(2023, 2, 25, 23, 59, 59), store=store, request_id="P1")
    _pay(coupon, 600, jst(2023, 2, 26), store=store, request_id="P2")

    # When the engine runs
    _run(incident)

    # Then it is 1-2 for 600, via the call center, found (extended only on request), no final balance
    entitlement = Entitlement.objects.get(coupon_id="CB0012")
    assert (entitlement.category, entitlement.amount_yen, entitlement.route) == ("1-2", 600, "callcenter")
    assert (entitlement.status, entitlement.valid_until, entitlement.final_balance_yen) == (
        "found",
        None,
        None,
    )
    assert entitlement.cutoff_at == jst(2023, 2, 26)
    assert not Instruction.objects.exists()


@pytest.mark.parametrize(
    ("app", "route"),
    [
        pytest.param({"app_account_id": "A1", "app_phone": "+819012345678"}, "app", id="app-phone"),
        pytest.param({"app_account_id": "A1", "app_email": "t@example.jp"}, "app", id="app-email"),
        pytest.param({"app_account_id": "A1"}, "application", id="app-without-contact"),
        pytest.param(
            {"app_account_id": "A1", "app_phone": "+81312345678"}, "application", id="app-landline-only"
        ),
        pytest.param({"app_account_id": "A1", "app_phone": "+817012345678"}, "app", id="app-070-mobile"),
        pytest.param(
            {"app_account_id": "A1", "app_phone": "+819012345678", "app_withdrawn_at": jst(2023, 3, 1)},
            "application",
            id="app-withdrawn",
        ),
        pytest.param({"app_phone": "+819012345678"}, "application", id="paper-only"),
    ],
)
def test_the_1_1_route_is_app_only_for_an_open_app_account_with_a_mobile_or_email(
    incident, store, app, route
) -> None:
    # Given a 1-1 coupon with these app details
    coupon = CouponFactory(inquiry_number="CB0001", expires_on=dt.date(2023, 2, 24), **app)
    _issue(coupon, 3000)

    # When the engine runs
    _run(incident)

    # Then the route is as DOMAIN.md says
    assert Entitlement.objects.get(coupon_id="CB0001", category="1-1").route == route


def _repeated_payment(store: Store, gap: dt.timedelta, *, cancel: str | None = None) -> Coupon:
    coupon = CouponFactory(inquiry_number="CB0022", expires_on=dt.date(2023, 2, 26))
    _issue(coupon, 5000)
    first = jst(2023, 2, 24, 18)
    _pay(coupon, 800, first, store=store, request_id="REQ1")
    _pay(coupon, 800, first + gap, store=store, request_id="REQ2")
    if cancel is not None:
        _cancel(coupon, 800, first + gap + dt.timedelta(seconds=5), store=store, request_id=cancel)
    return coupon


def test_a_repeat_payment_exactly_300_seconds_later_is_a_duplicate_candidate(incident, store) -> None:
    # Given two 800-yen payments at one store during the outage, 300 s apart
    _repeated_payment(store, dt.timedelta(seconds=300))

    # When the engine runs
    _run(incident)

    # Then the second is a 2-2 candidate of 800, for the call center, found
    entitlement = Entitlement.objects.get(coupon_id="CB0022")
    assert (entitlement.category, entitlement.amount_yen, entitlement.route, entitlement.status) == (
        "2-2",
        800,
        "callcenter",
        "found",
    )


@pytest.mark.parametrize(
    ("gap", "cancel"),
    [
        pytest.param(dt.timedelta(seconds=301), None, id="301-seconds-apart"),
        pytest.param(dt.timedelta(seconds=300, microseconds=1), None, id="300-seconds-and-a-microsecond"),
        pytest.param(dt.timedelta(seconds=60), "REQ2", id="repeat-cancelled"),
        pytest.param(dt.timedelta(seconds=60), "REQ1", id="first-cancelled"),
    ],
)
def test_a_repeat_payment_too_late_or_cancelled_is_not_a_duplicate_candidate(
    incident, store, gap, cancel
) -> None:
    # Given two 800-yen payments during the outage, too far apart or one of them cancelled
    _repeated_payment(store, gap, cancel=cancel)

    # When the engine runs
    summary = _run(incident)

    # Then nothing is recorded
    assert summary.created == ALL_GROUPS
    assert _nothing_written()


def test_a_cancel_carrying_another_request_id_does_not_reverse_a_duplicate(incident, store) -> None:
    # Given two 800-yen payments 60 s apart and a cancel carrying a request id neither of them sent
    _repeated_payment(store, dt.timedelta(seconds=60), cancel="OTHER")

    # When the engine runs
    _run(incident)

    # Then the repeat is still a 2-2 candidate
    assert Entitlement.objects.get(coupon_id="CB0022", category="2-2").amount_yen == 800


def _payment_with_till_records(store: Store, *tenders_and_offsets: tuple[str, int]) -> None:
    coupon = CouponFactory(inquiry_number="CB0021", expires_on=dt.date(2023, 2, 26))
    _issue(coupon, 5000)
    paid_at = jst(2023, 2, 24, 19)
    _pay(coupon, 700, paid_at, store=store, request_id="REQ1")
    for tender, offset in tenders_and_offsets:
        StoreSaleFactory(
            store=store, amount_yen=700, tender=tender, occurred_at=paid_at + dt.timedelta(seconds=offset)
        )


@pytest.mark.parametrize("tender", ["cash", "card", "qr", "other"])
@pytest.mark.parametrize("offset", [-600, 600])
def test_a_payment_with_a_non_coupon_sale_of_that_amount_within_600_seconds_is_a_2_1_candidate(
    incident, store, tender, offset
) -> None:
    # Given a 700-yen coupon payment during the outage and a 700-yen sale paid otherwise, 600 s away
    _payment_with_till_records(store, (tender, offset))

    # When the engine runs
    _run(incident)

    # Then it is a 2-1 candidate of 700, for the call center
    entitlement = Entitlement.objects.get(coupon_id="CB0021")
    assert (entitlement.category, entitlement.amount_yen, entitlement.route) == ("2-1", 700, "callcenter")


@pytest.mark.parametrize(
    "till",
    [
        pytest.param([("cash", 60), ("coupon", -300)], id="coupon-sale-of-the-same-amount-nearby"),
        pytest.param([("cash", 60), ("coupon", 600)], id="coupon-sale-600-seconds-later"),
        pytest.param([("cash", 601)], id="cash-sale-601-seconds-later"),
        pytest.param([("cash", -601)], id="cash-sale-601-seconds-earlier"),
        pytest.param([("coupon", 0)], id="only-the-coupon-sale"),
    ],
)
def test_a_payment_without_a_lone_non_coupon_sale_nearby_is_not_a_2_1_candidate(
    incident, store, till
) -> None:
    # Given a 700-yen coupon payment and till records that do not show it paid otherwise
    _payment_with_till_records(store, *till)

    # When the engine runs
    summary = _run(incident)

    # Then nothing is recorded
    assert summary.created == ALL_GROUPS
    assert _nothing_written()


def test_1_1_instructions_have_stable_ids_and_are_valid_until_march_31_23_59_59_jst(incident, ledger) -> None:
    # Given the 1-1 instructions of a run in early March
    with transaction.atomic():
        _run(incident, as_of=BEFORE_FINAL)
        first = sorted(Instruction.objects.values_list("instruction_id", "entitlement__coupon_id", "action"))
        transaction.set_rollback(True)
    assert _nothing_written()

    # When the same decisions are taken again by a run on another day
    _run(incident)

    # Then the instructions carry the same ids, one per 1-1 coupon, valid until 3/31 23:59:59 JST
    again = sorted(Instruction.objects.values_list("instruction_id", "entitlement__coupon_id", "action"))
    assert again == first
    assert [coupon for _id, coupon, _action in again] == ["C11APP", "C11PAPER"]
    assert {action for _id, _coupon, action in again} == {"extend_validity"}
    assert len({instruction_id for instruction_id, _c, _a in again}) == 2
    for instruction in Instruction.objects.all():
        assert instruction.valid_until == EXTENDED_UNTIL
        assert instruction.valid_until.astimezone(JST).isoformat() == "2023-03-31T23:59:59+09:00"
        assert instruction.entitlement.valid_until == EXTENDED_UNTIL
        assert instruction.applied_at is None


def test_a_reinstatement_echoing_an_instruction_id_marks_that_instruction_applied_on_the_next_run(
    incident, ledger
) -> None:
    # Given a 2-2 candidate the call center confirmed with a reinstatement instruction
    _run(incident, as_of=BEFORE_FINAL)
    candidate = Entitlement.objects.get(coupon_id="C22", category="2-2")
    instruction = Instruction.objects.create(
        instruction_id=f"{INCIDENT_CODE}:2-2:reinstate:C22",
        entitlement=candidate,
        action="reinstate",
        amount_yen=1600,
        decided_at=jst(2023, 3, 2, 11),
    )
    untouched = sorted(Instruction.objects.exclude(pk=instruction.pk).values_list())

    # When the platform echoes it as a reinstatement (and another reinstatement carries another id)
    echo = MovementFactory(
        movement_id="ECHO1",
        coupon=ledger["C22"],
        kind="reinstatement",
        amount_yen=1600,
        occurred_at=jst(2023, 3, 3, 9),
        request_id=instruction.instruction_id,
    )
    MovementFactory(
        coupon=ledger["C11APP"],
        kind="reinstatement",
        amount_yen=100,
        occurred_at=jst(2023, 3, 3, 9),
        request_id="SOMETHING-ELSE",
    )
    summary = _run(incident, as_of=jst(2023, 3, 4, 9))

    # Then that instruction is applied with the movement, and no other is
    instruction.refresh_from_db()
    assert summary.instructions_applied == 1
    assert instruction.applied_at == echo.occurred_at
    assert instruction.applied_movement_id == "ECHO1"
    assert sorted(Instruction.objects.exclude(pk=instruction.pk).values_list()) == untouched

    # When the engine runs again, Then the application is not recorded twice
    assert _run(incident, as_of=jst(2023, 3, 5, 9)).instructions_applied == 0


@pytest.mark.parametrize(
    ("change", "found"),
    [
        pytest.param({}, {("C22", "2-2"), ("C21", "2-1")}, id="as-migrated"),
        pytest.param({"duplicate_gap_seconds": 199}, {("C21", "2-1")}, id="gap-199-seconds"),
        pytest.param({"till_match_seconds": 299}, {("C22", "2-2")}, id="till-match-299-seconds"),
        pytest.param(
            {"outage_start": jst(2023, 2, 24, 18, 3, 21)}, {("C21", "2-1")}, id="outage-from-18-03-21"
        ),
        pytest.param({"outage_end": jst(2023, 2, 24, 19)}, {("C22", "2-2")}, id="outage-until-19-00"),
    ],
)
def test_the_2_x_rules_read_their_numbers_from_the_incident_record(incident, ledger, change, found) -> None:
    # Given operations corrected the incident's numbers
    Incident.objects.filter(pk=incident.pk).update(**change)
    incident.refresh_from_db()

    # When the engine runs
    _run(incident)

    # Then the 2-x candidates follow the record (1-x are unaffected by these numbers)
    assert {key for key in _decisions() if key[1] in {"2-1", "2-2"}} == found


# --- regressions: engine bugs this suite found, now fixed -------------------------------------------
def test_a_negative_final_balance_does_not_abort_the_run(incident, store) -> None:
    # Given a 1-1 coupon with 1,000 at the cut-off and an adjustment of -1,500 in March,
    # and another 1-1 coupon with 2,000 left
    overdrawn = CouponFactory(inquiry_number="CBNEG", expires_on=dt.date(2023, 2, 24))
    _issue(overdrawn, 1000)
    MovementFactory(coupon=overdrawn, kind="adjustment", amount_yen=-1500, occurred_at=jst(2023, 3, 10))
    _issue(CouponFactory(inquiry_number="CBOK", expires_on=dt.date(2023, 2, 24)), 2000)

    # When the engine runs after 2023-04-01
    _run(incident)

    # Then the run completes: nothing is payable on the overdrawn coupon, the other one is payable
    assert _summary_of_decisions() == {
        ("CBNEG", "1-1"): (1000, "application", "used_up", 0),
        ("CBOK", "1-1"): (2000, "application", "payable", 2000),
    }


def test_a_late_movement_that_changes_the_final_balance_flags_the_entitlement(incident, ledger) -> None:
    # Given C11APP recorded payable with its final balance of 1,500
    _run(incident)
    assert Entitlement.objects.get(coupon_id="C11APP", category="1-1").final_balance_yen == 1500

    # When a 500-yen payment of 2023-03-31 20:00 JST is imported late and the engine runs again
    _pay(ledger["C11APP"], 500, jst(2023, 3, 31, 20), store=Store.objects.get(), request_id="LATE")
    _run(incident, as_of=AFTER_FINAL + dt.timedelta(days=1))

    # Then the recorded final balance (1,500; the balance at 4/1 is now 1,000) is flagged for review
    entitlement = Entitlement.objects.get(coupon_id="C11APP", category="1-1")
    assert entitlement.needs_review is True
    assert entitlement.review_note.strip()
