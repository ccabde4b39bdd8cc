"""Test data factories, in one place. Platform records are normally written by the importer;
tests build small ledgers directly."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import factory

from coupons.models import Coupon, CouponMovement, LedgerChange, Store, StoreSale
from coupons.services.ledger_changes import ledger_changes_note

JST = ZoneInfo("Asia/Tokyo")


def jst(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=JST)


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store
        django_get_or_create = ("store_id",)

    store_id = factory.Sequence(lambda n: f"S{n:05d}")
    store_name = factory.Sequence(lambda n: f"館山海鮮市場 {n}号店")
    prefecture_code = "12"
    address = "千葉県館山市1-2-3"


class CouponFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Coupon

    inquiry_number = factory.Sequence(lambda n: f"CB{n:010d}")
    face_value_yen = 3000
    issued_at = factory.LazyFunction(lambda: jst(2023, 2, 23, 10))
    expires_on = dt.date(2023, 2, 24)
    issuing_shop = "房総トラベル 千葉支店"
    prefecture_code = "12"


class MovementFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CouponMovement
        skip_postgeneration_save = True  # the ledger is append-only

    movement_id = factory.Sequence(lambda n: f"M{n:011d}")
    coupon = factory.SubFactory(CouponFactory)
    kind = CouponMovement.Kind.ADJUSTMENT
    amount_yen = 0
    occurred_at = factory.LazyFunction(lambda: jst(2023, 2, 24, 12))

    @factory.post_generation
    def noted(obj, create, extracted, **kwargs) -> None:  # like the importer, for the engine
        if create:
            ledger_changes_note(scope=LedgerChange.Scope.COUPON, rows=[(obj.coupon_id, obj.occurred_at)])


class StoreSaleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StoreSale
        skip_postgeneration_save = True

    store = factory.SubFactory(StoreFactory)
    receipt_number = factory.Sequence(lambda n: f"R{n:09d}")
    occurred_at = factory.LazyFunction(lambda: jst(2023, 2, 24, 18))
    amount_yen = 1000
    tender = StoreSale.Tender.CASH

    @factory.post_generation
    def noted(obj, create, extracted, **kwargs) -> None:  # like the importer, for the engine
        if create:
            ledger_changes_note(scope=LedgerChange.Scope.STORE, rows=[(obj.store_id, obj.occurred_at)])
