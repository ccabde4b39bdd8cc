"""A realistic, reproducible region PAY export in the interface format, for demos and benchmarks.

Chiba stores with Japanese names; coupons from several issuing shops expiring around the outage;
paper-only and app users (some with closed app accounts); payments before, during and after the
outage of 2023-02-24 16:00-24:00 JST; duplicate deductions (the pay button pressed again within
seconds) and cash-plus-coupon cases during the outage; cancels; and the stores' own till records.
Balances never go below zero. The same seed gives the same files, byte for byte.
"""

from __future__ import annotations

import csv
import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

from coupons.services.importing import COUPONS, MOVEMENTS, STORE_SALES, STORES

JST = ZoneInfo("Asia/Tokyo")
OUTAGE_START = dt.datetime(2023, 2, 24, 16, 0, tzinfo=JST)
OUTAGE_END = dt.datetime(2023, 2, 25, 0, 0, tzinfo=JST)

PLACES = [
    ("館山市", "館山"),
    ("鴨川市", "鴨川"),
    ("勝浦市", "勝浦"),
    ("銚子市", "銚子"),
    ("木更津市", "木更津"),
    ("成田市", "成田"),
    ("富津市", "富津"),
    ("南房総市", "南房総"),
    ("千葉市美浜区", "幕張"),
    ("船橋市", "船橋"),
    ("いすみ市", "いすみ"),
    ("君津市", "君津"),
    ("市原市", "市原"),
    ("佐倉市", "佐倉"),
    ("香取市", "佐原"),
    ("旭市", "飯岡"),
    ("九十九里町", "九十九里"),
    ("浦安市", "舞浜"),
]
STORE_TYPES = [
    "海鮮市場",
    "お土産処",
    "ラーメン",
    "寿司処",
    "道の駅",
    "酒店",
    "牧場ショップ",
    "カフェ",
    "観光センター",
    "干物店",
    "菓子舗",
    "地魚食堂",
    "ベーカリー",
    "びわ工房",
    "醤油蔵",
]
ISSUING_SHOPS = [
    "房総トラベル 千葉支店",
    "ちば観光社 船橋営業所",
    "九十九里旅館 潮騒",
    "勝浦温泉 海の宿",
    "成田ゲートホテル",
    "館山リゾートホテル",
    "鴨川グランド旅館",
    "養老渓谷 山の湯",
    "幕張ベイホテル",
    "佐原 小野川の宿",
]
FACE_VALUES = [1000, 2000, 3000, 4000, 6000]
# Original expiries: most coupons of travellers who were in Chiba on the day.
EXPIRIES = [
    (dt.date(2023, 2, 24), 45),
    (dt.date(2023, 2, 25), 30),
    (dt.date(2023, 2, 23), 8),
    (dt.date(2023, 2, 26), 8),
    (dt.date(2023, 2, 27), 5),
    (dt.date(2023, 3, 3), 4),
]
EMERGENCY_EXTENSION = {dt.date(2023, 2, 24): dt.date(2023, 2, 26)}
PAYMENT_AMOUNTS = [300, 450, 500, 680, 800, 1000, 1200, 1500, 1980, 2000, 2400, 3000]
NON_COUPON_TENDERS = ["cash", "cash", "cash", "card", "qr", "other"]


@dataclass
class ExportStats:
    stores: int = 0
    coupons: int = 0
    movements: int = 0
    store_sales: int = 0
    duplicate_cases: int = 0
    cash_and_coupon_cases: int = 0
    files: list[Path] = field(default_factory=list)


def _ts(instant: dt.datetime) -> str:
    return instant.astimezone(JST).isoformat(timespec="seconds")


class _Ids:
    def __init__(self) -> None:
        self.movement = 0
        self.request = 0
        self.receipt = 0

    def next_movement(self) -> str:
        self.movement += 1
        return f"M{self.movement:011d}"

    def next_request(self) -> str:
        self.request += 1
        return f"RQ{self.request:011d}"

    def next_receipt(self) -> str:
        self.receipt += 1
        return f"R{self.receipt:09d}"


def generate_regionpay_export(
    *,
    coupons: int,
    out: Path,
    seed: int = 1,
    payments_per_coupon: float = 3.0,
    progress: Callable[[int], None] | None = None,
) -> ExportStats:
    """Write stores.csv, coupons.csv, movements.csv and store_sales.csv under ``out``."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    stats = ExportStats()
    ids = _Ids()
    store_ids = _write_stores(out / "stores.csv", rng, max(20, min(5000, coupons // 20)), stats)
    paths = {name: out / f"{name}.csv" for name in ("coupons", "movements", "store_sales")}
    with (
        paths["coupons"].open("w", newline="", encoding="utf-8") as coupon_file,
        paths["movements"].open("w", newline="", encoding="utf-8") as movement_file,
        paths["store_sales"].open("w", newline="", encoding="utf-8") as sale_file,
    ):
        coupon_writer = csv.writer(coupon_file, lineterminator="\n")
        # Headers in the contract's column order; the writers below follow the same order.
        coupon_writer.writerow(COUPONS.columns)
        movement_file.write(",".join(MOVEMENTS.columns) + "\n")
        sale_file.write(",".join(STORE_SALES.columns) + "\n")
        expiry_dates = [date for date, _ in EXPIRIES]
        expiry_weights = [weight for _, weight in EXPIRIES]
        for number in range(1, coupons + 1):
            inquiry = f"CB{seed % 100:02d}{number:08d}"
            expires_on = rng.choices(expiry_dates, expiry_weights)[0]
            face = rng.choice(FACE_VALUES)
            issued_at = dt.datetime.combine(
                expires_on - dt.timedelta(days=rng.randint(0, 2)), dt.time(rng.randint(8, 15)), JST
            ) + dt.timedelta(minutes=rng.randint(0, 59), seconds=rng.randint(0, 59))
            account, phone, email, withdrawn = _app_account(rng, number, issued_at)
            coupon_writer.writerow(
                [
                    inquiry,
                    face,
                    _ts(issued_at),
                    expires_on.isoformat(),
                    rng.choice(ISSUING_SHOPS),
                    "12",
                    account,
                    phone,
                    email,
                    _ts(withdrawn) if withdrawn else "",
                ]
            )
            _write_ledger(
                movement_file.write,
                sale_file.write,
                rng,
                ids,
                stats,
                store_ids,
                inquiry=inquiry,
                face=face,
                issued_at=issued_at,
                expires_on=expires_on,
                account=account,
                payments_per_coupon=payments_per_coupon,
            )
            stats.coupons += 1
            if progress and number % 10_000 == 0:
                progress(number)
    stats.movements = ids.movement
    stats.files = [out / "stores.csv", *paths.values()]
    return stats


def _write_stores(path: Path, rng: random.Random, count: int, stats: ExportStats) -> list[str]:
    store_ids = []
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(STORES.columns)
        for number in range(1, count + 1):
            city, area = rng.choice(PLACES)
            store_id = f"S{number:05d}"
            name = f"{area}{rng.choice(STORE_TYPES)}" + ("" if number % 3 else f" {number}号店")
            address = f"千葉県{city}{rng.randint(1, 9)}-{rng.randint(1, 30)}-{rng.randint(1, 20)}"
            writer.writerow([store_id, name, "12", address])
            store_ids.append(store_id)
    stats.stores = count
    return store_ids


def _app_account(
    rng: random.Random, number: int, issued_at: dt.datetime
) -> tuple[str, str, str, dt.datetime | None]:
    if rng.random() < 0.4:  # paper-only traveller
        return "", "", "", None
    account = f"APP{number:09d}"
    phone = f"090-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}" if rng.random() < 0.8 else ""
    if phone and rng.random() < 0.3:
        phone = "+81" + phone.replace("-", "")[1:]
    email = f"traveller{number}@example.jp" if not phone or rng.random() < 0.3 else ""
    withdrawn = issued_at + dt.timedelta(days=rng.randint(3, 20)) if rng.random() < 0.1 else None
    return account, phone, email, withdrawn


def _write_ledger(
    write_movement: Callable[[str], object],
    write_sale: Callable[[str], object],
    rng: random.Random,
    ids: _Ids,
    stats: ExportStats,
    store_ids: list[str],
    *,
    inquiry: str,
    face: int,
    issued_at: dt.datetime,
    expires_on: dt.date,
    account: str,
    payments_per_coupon: float,
) -> None:
    balance = face

    def movement(kind: str, amount: int, at: dt.datetime, store: str = "", request: str = "") -> None:
        write_movement(
            f"{ids.next_movement()},{inquiry},{kind},{amount},{_ts(at)},{store},{request},"
            f"{account if kind == 'charge' else ''}\n"
        )

    def sale(store: str, at: dt.datetime, amount: int, tender: str) -> None:
        write_sale(
            f"{store},{ids.next_receipt()},{_ts(at)},{amount},{tender},"
            f"{inquiry if tender == 'coupon' else ''}\n"
        )
        stats.store_sales += 1

    movement("issue", face, issued_at)
    now = issued_at + dt.timedelta(minutes=rng.randint(5, 90))
    if account:
        movement("charge", 0, now)
    # Coupons expiring on the day of the outage were extended on the spot to 2023-02-26 23:59.
    last_day = EMERGENCY_EXTENSION.get(expires_on, expires_on)
    end_of_validity = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(0), JST)
    payments = max(0, round(rng.gauss(payments_per_coupon, 1.0)))
    # Busy travellers (benchmarks ask for ~10 movements a coupon) pay smaller amounts more often.
    busy = payments_per_coupon > 3
    budget = max(PAYMENT_AMOUNTS[0], face // max(1, payments)) if busy else face
    max_gap = max(10, 720 // max(3, payments)) if busy else 240
    for _ in range(payments):
        now += dt.timedelta(minutes=rng.randint(5, max_gap))
        if now >= end_of_validity:
            break
        affordable = [amount for amount in PAYMENT_AMOUNTS if amount <= min(balance, budget)]
        if not affordable:
            break
        amount = rng.choice(affordable)
        store = rng.choice(store_ids)
        request = ids.next_request()
        during = OUTAGE_START <= now < OUTAGE_END
        movement("payment", -amount, now, store, request)
        balance -= amount
        roll = rng.random()
        if during and roll < 0.25 and balance >= amount:
            # Pay button pressed again: 1-2 more identical deductions seconds apart.
            stats.duplicate_cases += 1
            sale(store, now, amount, "coupon")
            at = now
            for _ in range(rng.randint(1, 2)):
                if balance < amount:
                    break
                at += dt.timedelta(seconds=rng.randint(3, 120))
                movement("payment", -amount, at, store, ids.next_request())
                balance -= amount
            now = at
        elif during and roll < 0.45:
            # Till said the coupon failed; the traveller paid cash; the coupon was deducted anyway.
            stats.cash_and_coupon_cases += 1
            sale(
                store,
                now + dt.timedelta(seconds=rng.randint(30, 420)),
                amount,
                rng.choice(NON_COUPON_TENDERS),
            )
        elif roll < 0.08:
            # The store cancelled the payment; the coupon got the amount back.
            now += dt.timedelta(minutes=rng.randint(1, 30))  # the next payment comes after it
            movement("cancel", amount, now, store, request)
            balance += amount
        else:
            sale(store, now, amount, "coupon")
        if rng.random() < 0.15:  # ordinary non-coupon sale at the same store around then
            sale(
                store,
                now + dt.timedelta(minutes=rng.randint(-60, 60)),
                rng.choice(PAYMENT_AMOUNTS),
                "cash",
            )
    if balance > 0 and rng.random() < 0.03:
        # The last second of validity (23:59:59 JST is 14:59:59 UTC the same day): it counts.
        amount = min(balance, 500)
        movement(
            "payment",
            -amount,
            end_of_validity - dt.timedelta(seconds=1),
            rng.choice(store_ids),
            ids.next_request(),
        )
        balance -= amount
    if expires_on == OUTAGE_START.date() and balance > 0 and rng.random() < 0.3:
        # 1-1 coupons were extended to 2023-03-31 23:59: some travellers came back in March.
        amount = min(balance, rng.choice(PAYMENT_AMOUNTS))
        at = dt.datetime(2023, 3, rng.randint(1, 31), rng.randint(9, 20), rng.randint(0, 59), tzinfo=JST)
        movement("payment", -amount, at, rng.choice(store_ids), ids.next_request())
        balance -= amount
