"""The 2023-02-24 region PAY outage, as the notice states it (see ../shared/DOMAIN.md).

All instants are Japan time. The outage window (16:00-24:00) is the placeholder the team agreed
on until the platform's logs give exact times; operations can correct it in the admin.
"""

import datetime as dt
from zoneinfo import ZoneInfo

from django.db import migrations

JST = ZoneInfo("Asia/Tokyo")


def jst(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=JST)


def create_incident(apps, schema_editor) -> None:
    Incident = apps.get_model("claims", "Incident")
    incident, _ = Incident.objects.update_or_create(
        code="regionpay-2023-02-24",
        defaults={
            "name": "2023年2月24日 region PAY システム障害（千葉とく旅キャンペーン）",
            "outage_start": jst(2023, 2, 24, 16, 0),
            "outage_end": jst(2023, 2, 25, 0, 0),
            "group_1_1_expires_on": dt.date(2023, 2, 24),
            "group_1_1_cutoff_at": jst(2023, 2, 27, 0, 0),
            "group_1_2_expires_on": dt.date(2023, 2, 25),
            "group_1_2_cutoff_at": jst(2023, 2, 26, 0, 0),
            "group_1_2_request_deadline": dt.date(2023, 3, 27),
            "duplicate_gap_seconds": 300,
            "till_match_seconds": 600,
            "extension_valid_until": jst(2023, 3, 31, 23, 59, 59),
            "final_balance_at": jst(2023, 4, 1, 0, 0),
            "application_opens_on": dt.date(2023, 3, 22),
            "application_deadline": dt.date(2023, 4, 30),
            "receipt_deadline": dt.date(2023, 5, 31),
        },
    )
    # The first entry of its history, so that every later edit shows what it changed.
    history = apps.get_model("claims", "HistoricalIncident")
    fields = {f.attname: getattr(incident, f.attname) for f in Incident._meta.concrete_fields}
    history.objects.create(
        **fields,
        history_date=dt.datetime.now(dt.UTC),
        history_type="+",
        history_change_reason="告知に基づく初期値",
    )


class Migration(migrations.Migration):
    dependencies = [("claims", "0001_initial")]

    operations = [migrations.RunPython(create_incident, migrations.RunPython.noop)]
