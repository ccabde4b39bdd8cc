"""python manage.py site_examples — one demo coupon per answer of the coupon check, to try the
travellers' site by hand (`make run` prints them). Read-only; the answers come from the same
``coupon_check`` service the pages and the API call, on the portal clock."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db.models import Count, Q

from claims.models import Entitlement
from claims.services import applications as rules
from coupons.models import Coupon

WANTED = ["apply", "no_application_needed", "call_center", "already_applied", "not_covered"]


class Command(BaseCommand):
    help = "Print one demo coupon (inquiry number and expiry) for each answer of the coupon check."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--scan", type=int, default=400, help="coupons to look at (default 400)")

    def handle(self, *args, **options) -> None:
        found: dict[str, Coupon] = {}
        # Coupons with a decision first (in group order), then a few without any.
        with_groups = (
            Coupon.objects.filter(entitlements__isnull=False)
            .annotate(n=Count("entitlements"))
            .order_by("inquiry_number")[: options["scan"]]
        )
        without = Coupon.objects.filter(~Q(inquiry_number__in=Entitlement.objects.values("coupon")))[:5]
        for coupon in [*with_groups, *without]:
            answer = rules.coupon_check(inquiry_number=coupon.inquiry_number, expires_on=coupon.expires_on)
            found.setdefault(answer.outcome, coupon)
            if all(outcome in found for outcome in WANTED):
                break
        self.stdout.write("Coupons to try on the site (/apply/), as the coupon check answers today:")
        for outcome in [*WANTED, "window_not_open", "window_closed"]:
            coupon = found.get(outcome)
            if coupon is not None:
                expiry = coupon.expires_on.strftime("%Y/%m/%d")
                self.stdout.write(f"  {outcome:<22} {coupon.inquiry_number}  {expiry}")
        self.stdout.write(f"  {'not_found':<22} XX0000000000  2023/02/24")
