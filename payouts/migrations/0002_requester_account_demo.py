"""The portal's own account for the Zengin header, with demo values (operations' contract with
the bank gives the real ones: they correct them in the admin, where every change is kept)."""

import datetime as dt

from django.db import migrations

DEMO = {
    "requester_code": "1234567890",
    "requester_name": "ﾁﾊﾞﾄｸﾀﾋﾞ ﾎｼﾖｳｼﾞﾑｷﾖｸ",  # 千葉とく旅 補償事務局
    "bank_code": "0134",  # 千葉銀行
    "branch_code": "100",  # 本店営業部
    "account_type": "ordinary",
    "account_number": "1234567",
}


def seed_requester_account(apps, schema_editor) -> None:
    Incident = apps.get_model("claims", "Incident")
    RequesterAccount = apps.get_model("payouts", "RequesterAccount")
    History = apps.get_model("payouts", "HistoricalRequesterAccount")
    incident = Incident.objects.filter(code="regionpay-2023-02-24").first()
    if incident is None or RequesterAccount.objects.filter(incident=incident).exists():
        return
    account = RequesterAccount.objects.create(incident=incident, **DEMO)
    # The first entry of its history, so that every later edit shows what it changed.
    fields = {f.attname: getattr(account, f.attname) for f in RequesterAccount._meta.concrete_fields}
    History.objects.create(
        **fields,
        history_date=dt.datetime.now(dt.UTC),
        history_type="+",
        history_change_reason="デモ用の値（銀行との契約どおりに運営事務局が修正）",
    )


class Migration(migrations.Migration):
    dependencies = [
        ("payouts", "0001_requester_account"),
        ("claims", "0002_incident_2023_02_24"),
    ]

    operations = [migrations.RunPython(seed_requester_account, migrations.RunPython.noop)]
