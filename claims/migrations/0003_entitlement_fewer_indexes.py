"""Fewer indexes on the entitlements the engine writes in bulk: the incident's own index is led by
``entitlement_once_per_group`` and ``entitlement_group_status``, and the coupon column (in the "C"
collation of the inquiry number) needs no ``varchar_pattern_ops`` twin for ``LIKE 'prefix%'``."""

import django.db.models.deletion
from django.db import migrations, models

LIKE_TWIN = "claims_entitlement_inquiry_number_52c3f739_like"


class Migration(migrations.Migration):
    dependencies = [("claims", "0002_incident_2023_02_24")]

    operations = [
        migrations.AlterField(
            model_name="entitlement",
            name="incident",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="entitlements",
                to="claims.incident",
                verbose_name="障害",
            ),
        ),
        migrations.RunSQL(
            f"DROP INDEX IF EXISTS {LIKE_TWIN};",
            f"CREATE INDEX IF NOT EXISTS {LIKE_TWIN} ON claims_entitlement (inquiry_number varchar_pattern_ops);",
        ),
    ]
