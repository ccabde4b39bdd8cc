"""python manage.py setup_demo — demo staff accounts (one per role) and demo data (once).

For `make run` on a developer's machine: refuses to run unless DEBUG is on (demo passwords must
never exist in production). Safe to run again: existing accounts and data are left as they are.
"""

from __future__ import annotations

import base64
from pathlib import Path

from django.apps import apps as django_apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from coupons.models import Coupon
from coupons.services.demo_export import generate_regionpay_export
from coupons.services.importing import regionpay_import
from staff.roles import Role, roles_sync

DEMO_COUPONS = 3000
DEMO_SEED = 2023

ACCOUNTS = [
    # username, password, role (None: superuser)
    ("agent", "agent-demo-2023", Role.AGENT),
    ("supervisor", "supervisor-demo-2023", Role.SUPERVISOR),
    ("operations", "operations-demo-2023", Role.OPERATIONS),
    ("approver", "approver-demo-2023", Role.APPROVER),
    ("auditor", "auditor-demo-2023", Role.AUDITOR),
    ("admin", "admin-demo-2023", None),
]
# Spare single-use codes kept on each demo account, so a new user can sign in without an app.
DEMO_STATIC_CODES = 5


class Command(BaseCommand):
    help = "Create staff groups, demo staff accounts and load demo data (development only)."

    def handle(self, *args, **options) -> None:
        if not settings.DEBUG:
            raise CommandError("setup_demo creates accounts with known passwords: DEBUG only")
        with transaction.atomic():
            self._accounts()
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
        # With the demo clock after the final instant and links_from: payouts and their receipt
        # links now (the worker sends them into .data/outbox/), not at beat's first tick.
        call_command("run_payouts", stdout=self.stdout)

    def _accounts(self) -> None:
        roles_sync(django_apps)  # the groups exist after migrate; this keeps their permissions exact
        users = get_user_model()
        self.stdout.write(
            "demo accounts (password, then a code: the TOTP key in an authenticator app, or a spare code):"
        )
        for username, password, role in ACCOUNTS:
            user = users.objects.filter(username=username).first()
            if user is None:
                user = users.objects.create_user(
                    username=username, password=password, is_staff=True, is_superuser=role is None
                )
            if role is not None:
                user.groups.add(Group.objects.get(name=role.label))
            totp = TOTPDevice.objects.filter(user=user, confirmed=True).first()
            if totp is None:
                totp = TOTPDevice.objects.create(user=user, name="認証アプリ（デモ）", confirmed=True)
            spare, _ = StaticDevice.objects.get_or_create(user=user, name="予備コード（デモ）")
            for _ in range(DEMO_STATIC_CODES - spare.token_set.count()):
                spare.token_set.create(token=StaticToken.random_token())
            key = base64.b32encode(totp.bin_key).decode().rstrip("=")
            code = spare.token_set.order_by("pk").values_list("token", flat=True).first()
            label = role.label if role else "全権限"
            self.stdout.write(f"  {username:<11} {password:<22} TOTP {key}  予備コード {code}  ({label})")
