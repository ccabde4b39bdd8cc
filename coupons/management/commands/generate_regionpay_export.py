"""python manage.py generate_regionpay_export --coupons N --out DIR --seed S"""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand

from coupons.services.demo_export import generate_regionpay_export


class Command(BaseCommand):
    help = "Write a realistic region PAY export (stores, coupons, movements, store sales) as CSV."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--coupons", type=int, required=True)
        parser.add_argument("--out", type=Path, required=True)
        parser.add_argument("--seed", type=int, default=1)
        parser.add_argument(
            "--payments-per-coupon",
            type=float,
            default=3.0,
            help="mean payments per coupon (default 3)",
        )

    def handle(
        self, *args, coupons: int, out: Path, seed: int, payments_per_coupon: float, **options
    ) -> None:
        stats = generate_regionpay_export(
            coupons=coupons, out=out, seed=seed, payments_per_coupon=payments_per_coupon
        )
        self.stdout.write(
            f"{out}: {stats.stores:,} stores, {stats.coupons:,} coupons, {stats.movements:,} movements, "
            f"{stats.store_sales:,} store sales ({stats.duplicate_cases:,} duplicate-deduction and "
            f"{stats.cash_and_coupon_cases:,} cash-plus-coupon cases in the outage)"
        )
