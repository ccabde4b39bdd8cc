"""python manage.py setup_demo — staff groups, demo staff accounts and demo data (once).

For `make run` on a developer's machine: refuses to run unless DEBUG is on (demo passwords must
never exist in production). Safe to run again: existing accounts and data are left as they are.
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from coupons.models import Coupon
from coupons.services.demo_export import generate_regionpay_export
from coupons.services.importing import regionpay_import

DEMO_COUPONS = 3000
DEMO_SEED = 2023

LEDGER = [
    "coupons.view_store",
    "coupons.view_coupon",
    "coupons.view_couponmovement",
    "coupons.view_storesale",
]
GROUPS = {
    "運営事務局": [
        *LEDGER,
        *["coupons.view_importrun", "coupons.add_importrun"],
        *["claims.view_incident", "claims.change_incident", "claims.view_historicalincident"],
        *["claims.view_entitlement", "claims.change_entitlement", "claims.view_instruction"],
        "claims.view_entitlementstatuschange",
        *["claims.view_eligibilityrun", "claims.add_eligibilityrun"],
        *["notifications.view_message", "notifications.resend_message"],
    ],
    "コールセンター": [
        *LEDGER,
        *["claims.view_incident", "claims.view_entitlement", "claims.change_entitlement"],
        "claims.view_entitlementstatuschange",
        "claims.view_instruction",
        # The call desk: take calls and decide (approval and reopening stay with supervisors).
        *["callcenter.view_callcase", "callcenter.add_callcase", "callcenter.change_callcase"],
        "notifications.view_message",  # "did my code arrive?": the agent can see it was sent
    ],
}
ACCOUNTS = [
    # username, password, group, superuser
    ("operations", "operations-demo-2023", "運営事務局", False),
    ("callcenter", "callcenter-demo-2023", "コールセンター", False),
    ("admin", "admin-demo-2023", None, True),
]


class Command(BaseCommand):
    help = "Create staff groups, demo staff accounts and load demo data (development only)."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("setup_demo creates accounts with known passwords: DEBUG only")
        with transaction.atomic():
            self._groups_and_accounts()
        if Coupon.objects.exists():
            self.stdout.write("demo data: already loaded")
            return
        out = Path(settings.DATA_DIR) / "demo"
        stats = generate_regionpay_export(coupons=DEMO_COUPONS, out=out, seed=DEMO_SEED)
        outcome = regionpay_import(paths=stats.files)
        if not outcome.ok:
            raise CommandError("\n".join(str(error) for error in outcome.errors))
        for result in outcome.results:
            self.stdout.write(f"demo data: {result.file} {result.inserted:,} rows")
        call_command("run_eligibility", stdout=self.stdout)

    def _groups_and_accounts(self) -> None:
        for name, codenames in GROUPS.items():
            group, _ = Group.objects.get_or_create(name=name)
            permissions = [
                Permission.objects.get(content_type__app_label=label, codename=codename)
                for label, codename in (item.split(".") for item in codenames)
            ]
            group.permissions.set(permissions)
        users = get_user_model()
        for username, password, group, superuser in ACCOUNTS:
            if users.objects.filter(username=username).exists():
                continue
            user = users.objects.create_user(
                username=username, password=password, is_staff=True, is_superuser=superuser
            )
            if group:
                user.groups.add(Group.objects.get(name=group))
            self.stdout.write(f"demo account: {username} / {password}")
