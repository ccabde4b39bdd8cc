from django.db import migrations

# The ledger is append-only in the database itself: corrections are new rows. TRUNCATE stays
# possible for the test runner's flush; UPDATE and DELETE are refused for every client.
APPEND_ONLY = r"""
CREATE FUNCTION coupons_movement_refuse_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'coupons_couponmovement is append-only: % refused (movement %)',
    TG_OP, OLD.movement_id
    USING ERRCODE = 'integrity_constraint_violation',
          HINT = 'Record a correction as a new movement.';
END
$$;
CREATE TRIGGER coupons_movement_append_only
  BEFORE UPDATE OR DELETE ON coupons_couponmovement
  FOR EACH ROW EXECUTE FUNCTION coupons_movement_refuse_change();
"""

DROP_APPEND_ONLY = """
DROP TRIGGER coupons_movement_append_only ON coupons_couponmovement;
DROP FUNCTION coupons_movement_refuse_change();
"""

# Frozen copy of coupons.inquiry.SQL_FUNCTION (a migration must not change when the code does).
INQUIRY_FUNCTION = r"""
CREATE OR REPLACE FUNCTION regionpay_inquiry(raw text) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT translate(
           translate(normalize(raw, NFKC), E' \t-‐‑‒–—―−ー', ''),
           'abcdefghijklmnopqrstuvwxyz', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("coupons", "0001_initial")]

    operations = [
        migrations.RunSQL(APPEND_ONLY, DROP_APPEND_ONLY),
        migrations.RunSQL(INQUIRY_FUNCTION, "DROP FUNCTION regionpay_inquiry(text);"),
    ]
