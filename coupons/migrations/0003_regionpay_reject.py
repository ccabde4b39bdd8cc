from django.db import migrations

# The importer's fast path raises through this from inside a set-based INSERT ... SELECT when a
# record breaks a rule no cast or constraint catches (a missing UTC offset, an unknown coupon).
REJECT = r"""
CREATE FUNCTION regionpay_reject(message text, typed anyelement) RETURNS anyelement
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  RAISE EXCEPTION 'regionpay import: %', message USING ERRCODE = 'data_exception';
END
$$;
"""

# Fast path first: an already-normal inquiry number skips NFKC and the two translations.
INQUIRY_FUNCTION = r"""
CREATE OR REPLACE FUNCTION regionpay_inquiry(raw text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE WHEN raw ~ '^[A-Z0-9]+$' THEN raw ELSE
         translate(
           translate(normalize(raw, NFKC), E' \t-‐‑‒–—―−ー', ''),
           'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ') END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("coupons", "0002_ledger_append_only_and_inquiry_sql")]

    operations = [
        migrations.RunSQL(REJECT, "DROP FUNCTION regionpay_reject(text, anyelement);"),
        migrations.RunSQL(INQUIRY_FUNCTION, migrations.RunSQL.noop),
    ]
