"""Drop the ``varchar_pattern_ops`` twins Django adds to every indexed CharField on PostgreSQL.

The key columns of the platform's tables are in the "C" collation, so their ordinary B-tree already
serves ``LIKE 'prefix%'``; the twin only cost time on every write. On the ledger it was a third
index, maintained for each of the tens of millions of imported movements: dropping it made a
10M-movement COPY into the ledger ~30 % faster (see docs/performance.md).
"""

from django.db import migrations

PATTERN_OPS_TWINS = (
    ("coupons_couponmovement", "movement_id", "coupons_couponmovement_movement_id_d80173a8_like"),
    ("coupons_coupon", "inquiry_number", "coupons_coupon_inquiry_number_e4ef7801_like"),
    ("coupons_store", "store_id", "coupons_store_store_id_6e9a3f98_like"),
)


class Migration(migrations.Migration):
    dependencies = [("coupons", "0003_regionpay_reject")]

    operations = [
        migrations.RunSQL(
            f"DROP INDEX IF EXISTS {name};",
            f"CREATE INDEX IF NOT EXISTS {name} ON {table} ({column} varchar_pattern_ops);",
        )
        for table, column, name in PATTERN_OPS_TWINS
    ]
